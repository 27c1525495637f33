//! A queue's line as snapshots hold it: sorted (enqueued at, conversation) entries in chunks
//! shared between snapshots. A batch that adds a few customers at the back copies the last chunk
//! and the list of chunks, not the whole line (which was one copy of thousands of entries on the
//! writer per batch); a reader finds a conversation through the chunk's own index, made once per
//! chunk by the first reader that looks into it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::domain::ids::ConversationId;

/// One entry: when the conversation entered the line, and which it is (the line's order).
pub type Key = (u64, ConversationId);

/// Entries a chunk is made with; one grows to twice that before it splits.
const CHUNK: usize = 256;

#[derive(Debug, Default)]
struct Chunk {
    entries: Vec<Key>,
    /// The smallest and largest conversation id in it: a lookup skips the chunks that cannot
    /// hold the one it looks for without touching their index.
    ids: (u64, u64),
    /// Conversation → offset in `entries`, made by the first lookup.
    index: OnceLock<HashMap<ConversationId, usize>>,
}

impl Chunk {
    fn new(entries: Vec<Key>) -> Chunk {
        let mut chunk = Chunk { entries, ..Chunk::default() };
        chunk.settle();
        chunk
    }

    /// After its entries were replaced: the id range again, and an index to be made again.
    fn settle(&mut self) {
        let ids = self.entries.iter().map(|(_, id)| id.0);
        self.ids = (ids.clone().min().unwrap_or(0), ids.max().unwrap_or(0));
        self.index = OnceLock::new();
    }

    /// After one entry came in or went out: the range widened to it if need be (one wider than
    /// its entries only costs a lookup a look into the index), and an index to be made again.
    fn touched(&mut self, id: ConversationId) {
        self.ids = (self.ids.0.min(id.0), self.ids.1.max(id.0));
        self.index = OnceLock::new();
    }

    fn last(&self) -> Option<&Key> {
        self.entries.last()
    }

    fn offset(&self, conversation: ConversationId) -> Option<usize> {
        if conversation.0 < self.ids.0 || conversation.0 > self.ids.1 {
            return None;
        }
        let index = self.index.get_or_init(|| self.entries.iter().enumerate().map(|(i, (_, id))| (*id, i)).collect());
        index.get(&conversation).copied()
    }
}

/// A copy is made only when a snapshot changes a shared chunk (`Arc::make_mut`): its index is
/// not carried over, since the copy is about to change.
impl Clone for Chunk {
    fn clone(&self) -> Chunk {
        Chunk { entries: self.entries.clone(), ids: self.ids, index: OnceLock::new() }
    }
}

/// The line, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// Never an empty chunk; each chunk's entries come before the next one's.
    chunks: Vec<Arc<Chunk>>,
    /// Entries before each chunk.
    starts: Vec<usize>,
    len: usize,
}

impl Line {
    /// A line of entries already in order.
    pub fn of(entries: impl Iterator<Item = Key>) -> Line {
        let mut chunks = Vec::new();
        let mut current = Vec::with_capacity(CHUNK);
        for entry in entries {
            current.push(entry);
            if current.len() == CHUNK {
                chunks.push(Arc::new(Chunk::new(std::mem::replace(&mut current, Vec::with_capacity(CHUNK)))));
            }
        }
        if !current.is_empty() {
            chunks.push(Arc::new(Chunk::new(current)));
        }
        let mut line = Line { chunks, ..Line::default() };
        line.count();
        line
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where a conversation stands (0 is the head), with its entry.
    pub fn find(&self, conversation: ConversationId) -> Option<(usize, Key)> {
        self.chunks
            .iter()
            .zip(&self.starts)
            .find_map(|(chunk, start)| chunk.offset(conversation).map(|offset| (start + offset, chunk.entries[offset])))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Key> + '_ {
        self.chunks.iter().flat_map(|chunk| chunk.entries.iter())
    }

    /// The line with these entries added (`true`) or taken out (`false`), in that order. Only
    /// the chunks they fall in are copied.
    pub fn edited(&self, edits: &[(bool, Key)]) -> Line {
        let mut line = self.clone();
        for (add, key) in edits {
            if *add {
                line.insert(*key);
            } else {
                line.remove(key);
            }
        }
        line.count();
        line
    }

    /// The chunk `key` belongs in: the first whose last entry is not before it (the last chunk
    /// when it goes after everything).
    fn chunk_for(&self, key: &Key) -> usize {
        let at = self.chunks.partition_point(|chunk| chunk.last().is_some_and(|last| last < key));
        at.min(self.chunks.len().saturating_sub(1))
    }

    fn insert(&mut self, key: Key) {
        if self.chunks.is_empty() {
            self.chunks.push(Arc::new(Chunk::new(vec![key])));
            return;
        }
        let at = self.chunk_for(&key);
        let chunk = Arc::make_mut(&mut self.chunks[at]);
        if let Err(offset) = chunk.entries.binary_search(&key) {
            chunk.entries.insert(offset, key);
        }
        if chunk.entries.len() >= 2 * CHUNK {
            let back = chunk.entries.split_off(CHUNK);
            chunk.settle();
            self.chunks.insert(at + 1, Arc::new(Chunk::new(back)));
        } else {
            chunk.touched(key.1);
        }
    }

    fn remove(&mut self, key: &Key) {
        if self.chunks.is_empty() {
            return;
        }
        let at = self.chunk_for(key);
        if let Ok(offset) = self.chunks[at].entries.binary_search(key) {
            if self.chunks[at].entries.len() == 1 {
                // No empty chunk stays: `chunk_for` relies on each having a last entry.
                self.chunks.remove(at);
                return;
            }
            let chunk = Arc::make_mut(&mut self.chunks[at]);
            chunk.entries.remove(offset);
            chunk.touched(key.1);
        }
    }

    fn count(&mut self) {
        self.starts.clear();
        let mut total = 0;
        for chunk in &self.chunks {
            self.starts.push(total);
            total += chunk.entries.len();
        }
        self.len = total;
    }
}

impl PartialEq for Line {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Line {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn key(n: u64) -> Key {
        (n / 3, ConversationId(n))
    }

    proptest! {
        /// Whatever is added and taken out, the edited line holds what a sorted set would, in
        /// its order, and finds each entry at its rank.
        #[test]
        fn an_edited_line_is_the_sorted_set_of_its_entries(
            start in proptest::collection::vec(0u64..3_000, 0..1_500),
            batches in proptest::collection::vec(proptest::collection::vec((any::<bool>(), 0u64..3_000), 0..700), 1..6),
        ) {
            let mut set: BTreeSet<Key> = start.iter().map(|n| key(*n)).collect();
            let mut line = Line::of(set.iter().copied());
            for batch in batches {
                let edits: Vec<(bool, Key)> = batch.iter().map(|(add, n)| (*add, key(*n))).collect();
                let (before, before_set) = (line.clone(), set.clone());
                line = line.edited(&edits);
                for (add, key) in &edits {
                    if *add { set.insert(*key); } else { set.remove(key); }
                }
                prop_assert_eq!(line.len(), set.len());
                prop_assert!(line.iter().eq(set.iter()));
                for (rank, entry) in set.iter().enumerate() {
                    prop_assert_eq!(line.find(entry.1), Some((rank, *entry)));
                }
                prop_assert_eq!(line.find(ConversationId(5_000)), None);
                // The line it came from is as it was.
                prop_assert!(before.iter().eq(before_set.iter()));
            }
        }
    }

    #[test]
    fn adding_at_the_back_shares_every_chunk_but_the_last() {
        let line = Line::of((0..10 * CHUNK as u64).map(key));
        let next = line.edited(&[(true, key(10 * CHUNK as u64))]);
        let shared = line.chunks.iter().zip(&next.chunks).filter(|(a, b)| Arc::ptr_eq(a, b)).count();
        assert_eq!(shared, 9);
        assert_eq!(next.find(ConversationId(10 * CHUNK as u64)).map(|(rank, _)| rank), Some(10 * CHUNK));
    }
}
