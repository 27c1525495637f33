//! Once per database, at start: the index of each contact's conversations
//! (`CONTACT_TO_CONVERSATION_IDS`) for the conversations written before it existed. A new database
//! marks itself at its first start, with nothing to add; later conversations are indexed by the
//! command that opens them.

use redb::{ReadableTable, WriteTransaction};

use crate::core::{ApplyError, Command, Event, Read, Runtime, Tables, WriteError};
use crate::store::tables::{CONTACT_TO_CONVERSATION_IDS, CONVERSATION_ID_TO_CONVERSATION, META};

const BUILT: &str = "contact_conversations_indexed";

/// Builds the index of contacts' conversations once; answers how many entries it added.
pub struct IndexContactConversations;

impl Command<Runtime, Event> for IndexContactConversations {
    type Output = usize;
    /// `None`: this database has the index already; else the (contact, conversation) keys.
    type Plan = Option<Vec<(u64, u64)>>;

    fn check(self, _: &Runtime, read: &Read<'_>) -> Result<Self::Plan, ApplyError> {
        if read.table(META)?.get(BUILT)?.is_some() {
            return Ok(None);
        }
        let table = read.table(CONVERSATION_ID_TO_CONVERSATION.definition())?;
        let all = CONVERSATION_ID_TO_CONVERSATION.all(&table)?;
        Ok(Some(all.into_iter().map(|(id, conversation)| (conversation.contact.0, id)).collect()))
    }

    fn write(
        plan: Self::Plan,
        _: &mut Runtime,
        tx: &WriteTransaction,
        _: &mut Vec<Event>,
    ) -> Result<usize, WriteError> {
        let Some(keys) = plan else { return Ok(0) };
        let mut index = tx.open_table(CONTACT_TO_CONVERSATION_IDS)?;
        for key in &keys {
            index.insert(*key, ())?;
        }
        tx.open_table(META)?.insert(BUILT, 1)?;
        Ok(keys.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    use crate::domain::conversation::Conversation;
    use crate::domain::ids::{ContactId, ConversationId};
    use crate::store::Store;

    fn build(state: &mut Runtime, tx: &WriteTransaction) -> usize {
        let plan = IndexContactConversations.check(state, &Read::new(tx)).unwrap();
        IndexContactConversations::write(plan, state, tx, &mut Vec::new()).unwrap()
    }

    #[test]
    fn conversations_from_before_the_index_join_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path()).unwrap();
        let tx = store.begin_write().unwrap();
        {
            let mut table = tx.open_table(CONVERSATION_ID_TO_CONVERSATION.definition()).unwrap();
            for (id, contact) in [(1, 7), (2, 8), (3, 7)] {
                let mut conversation = Conversation::for_tests(ConversationId(id));
                conversation.contact = ContactId(contact);
                CONVERSATION_ID_TO_CONVERSATION.insert(&mut table, id, &conversation).unwrap();
            }
        }
        let mut state = Runtime::default();
        assert_eq!(build(&mut state, &tx), 3);
        assert_eq!(build(&mut state, &tx), 0, "built once");
        let index = tx.open_table(CONTACT_TO_CONVERSATION_IDS).unwrap();
        assert_eq!(index.len().unwrap(), 3);
        let sevens: Vec<u64> = index.range((7, 0)..(8, 0)).unwrap().map(|row| row.unwrap().0.value().1).collect();
        assert_eq!(sevens, [1, 3]);
    }
}
