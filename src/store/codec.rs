//! Stored values are MessagePack maps with field names (self-describing), so a value written before a
//! field existed still reads, with `#[serde(default)]` filling the gap: an added optional field needs no
//! migration.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

pub fn encode<T: Serialize>(table: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(value).map_err(|err| StoreError::Encode { table, message: err.to_string() })
}

pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|err| StoreError::Decode { table, message: err.to_string() })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Serialize)]
    struct Before {
        name: String,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct After {
        name: String,
        #[serde(default)]
        nickname: Option<String>,
    }

    #[test]
    fn an_added_optional_field_reads_old_values() {
        let bytes = encode("t", &Before { name: "Ana".into() }).unwrap();
        let after: After = decode("t", &bytes).unwrap();
        assert_eq!(after, After { name: "Ana".into(), nickname: None });
    }

    #[test]
    fn garbage_is_an_error_naming_the_table() {
        let err = decode::<After>("users", &[0xc1, 0x00]).unwrap_err();
        assert!(err.to_string().contains("users"), "{err}");
    }
}
