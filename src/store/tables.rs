//! Every table of the database, declared once. Keys are plain redb types; values are encoded by
//! `codec` and typed through `Typed`, so a table cannot be read as the wrong type.

use std::marker::PhantomData;

use redb::{Key, ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{BootRecord, StoreError, codec};

/// `meta`: schema version and other facts about the file itself.
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Every start of the server, numbered from 1: version, start and clean-stop times.
pub const BOOT_SEQ_TO_RECORD: Typed<u64, BootRecord> = Typed::new("boot_seq_to_record");

/// Creates every table, so that read transactions never meet a missing one.
pub fn create_all(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(META)?;
    tx.open_table(BOOT_SEQ_TO_RECORD.definition())?;
    Ok(())
}

/// A table whose values are `V` encoded by `codec`.
pub struct Typed<K: Key + 'static, V> {
    name: &'static str,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Typed<K, V>
where
    K: Key + 'static + for<'a> redb::Value<SelfType<'a> = K>,
    V: Serialize + DeserializeOwned,
{
    pub const fn new(name: &'static str) -> Self {
        Typed { name, _types: PhantomData }
    }

    pub const fn definition(&self) -> TableDefinition<'static, K, &'static [u8]> {
        TableDefinition::new(self.name)
    }

    pub fn get(&self, table: &impl ReadableTable<K, &'static [u8]>, key: K) -> Result<Option<V>, StoreError> {
        match table.get(key)? {
            Some(bytes) => Ok(Some(codec::decode(self.name, bytes.value())?)),
            None => Ok(None),
        }
    }

    pub fn last(&self, table: &impl ReadableTable<K, &'static [u8]>) -> Result<Option<(K, V)>, StoreError> {
        match table.last()? {
            Some((key, bytes)) => Ok(Some((key.value(), codec::decode(self.name, bytes.value())?))),
            None => Ok(None),
        }
    }

    pub fn all(&self, table: &impl ReadableTable<K, &'static [u8]>) -> Result<Vec<(K, V)>, StoreError> {
        let mut rows = Vec::new();
        for row in table.iter()? {
            let (key, bytes) = row?;
            rows.push((key.value(), codec::decode(self.name, bytes.value())?));
        }
        Ok(rows)
    }

    pub fn insert(&self, table: &mut Table<'_, K, &'static [u8]>, key: K, value: &V) -> Result<(), StoreError> {
        let bytes = codec::encode(self.name, value)?;
        table.insert(key, bytes.as_slice())?;
        Ok(())
    }
}
