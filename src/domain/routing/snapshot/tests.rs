use std::collections::BTreeSet;

use proptest::prelude::*;

use super::super::{AgentSettings, GroupRules, Ticket};
use super::*;
use crate::domain::ids::ContactId;

fn ticket(queue: Option<u64>, at: u64) -> Ticket {
    Ticket { queue: queue.map(GroupId), enqueued_at: at, contact: ContactId(at), mode: AssignMode::Automatic }
}

fn agent(routing: &mut Routing, id: u64, groups: &[u64], capacity: u32) {
    let groups = groups.iter().map(|g| GroupId(*g)).collect();
    routing.upsert_agent(
        UserId(id),
        AgentSettings { capacity: Some(capacity), groups, mode: AssignMode::Automatic },
        0,
    );
    routing.set_online(UserId(id), true, 0).unwrap();
    routing.set_available(UserId(id), true, 0).unwrap();
}

fn same(a: &Snapshot, b: &Snapshot) -> bool {
    a.queues == b.queues && a.agents == b.agents
}

#[test]
fn places_follow_the_queue_order_and_mark_the_overflow() {
    let mut routing = Routing::new(2);
    routing.set_group(GroupId(1), GroupRules { max_queue: Some(2), ..GroupRules::default() }, 0);
    for n in [3, 1, 2, 4] {
        routing.enqueue(ConversationId(n), ticket(Some(1), n * 10), n).unwrap();
    }
    routing.enqueue(ConversationId(9), ticket(None, 5), 5).unwrap();
    let snapshot = Snapshot::build(&routing, Arc::default());
    let places: Vec<_> = (1..=4).map(|n| snapshot.place(ConversationId(n), Some(GroupId(1))).unwrap()).collect();
    let expected =
        [(1, false), (2, false), (3, true), (4, true)].map(|(position, overflow)| Place { position, overflow });
    assert_eq!(places, expected);
    assert_eq!(snapshot.place(ConversationId(9), Some(GroupId(1))), Some(Place { position: 1, overflow: false }));
    for n in 1..=4 {
        assert_eq!(snapshot.place(ConversationId(n), None), routing.place(ConversationId(n)), "as routing says");
    }
    assert_eq!(snapshot.panel(None, 0).overflow, 2);
    assert_eq!(snapshot.panel(Some(GroupId(1)), 0).overflow, 2);
    assert_eq!(snapshot.panel(Some(GroupId(2)), 0).overflow, 0);
    assert_eq!(snapshot.place(ConversationId(7), None), None);
}

#[test]
fn a_batch_remakes_only_the_queues_it_changed_and_names_the_agents_it_moved() {
    let mut routing = Routing::new(2);
    agent(&mut routing, 1, &[1], 1);
    agent(&mut routing, 2, &[2], 1);
    for n in 1..=3 {
        routing.enqueue(ConversationId(n), ticket(Some(1), n), n).unwrap();
        routing.enqueue(ConversationId(10 + n), ticket(Some(2), n), n).unwrap();
    }
    routing.take_dirty();
    let before = Snapshot::build(&routing, Arc::default());
    let first = routing.agent(UserId(1)).unwrap().open.iter().next().copied().unwrap();
    routing.release(first, 9).unwrap();
    let after = before.next(&routing, &routing.clone().take_dirty(), Arc::clone(&before.day)).unwrap();
    assert!(Arc::ptr_eq(before.queue(Some(GroupId(2))).unwrap(), after.queue(Some(GroupId(2))).unwrap()));
    assert_eq!(after.queue(Some(GroupId(1))).unwrap().len(), 1, "2 went to agent 1, 3 waits");
    assert_eq!(after.generation, before.generation + 1);
    let changed: Vec<UserId> = after.changed_agents(&before).into_iter().map(|(id, _)| id).collect();
    assert!(changed.is_empty(), "agent 1 freed a slot and took the next: load 1 as before");
    routing.take_dirty();
    routing.set_available(UserId(2), false, 10).unwrap();
    let later = after.next(&routing, &routing.clone().take_dirty(), Arc::clone(&after.day)).unwrap();
    let changed: Vec<UserId> = later.changed_agents(&after).into_iter().map(|(id, _)| id).collect();
    assert_eq!(changed, vec![UserId(2)]);
    assert!(after.next(&routing, &Dirty::default(), Arc::clone(&after.day)).is_some(), "agents differ from after");
    assert!(later.next(&routing, &Dirty::default(), Arc::clone(&later.day)).is_none(), "nothing changed");
}

#[derive(Debug, Clone)]
enum Op {
    Enqueue(Option<u64>),
    Release(usize),
    Agent(u64, Vec<u64>, u32),
    Online(u64, bool),
    Available(u64, bool),
    TakeNext(u64),
    Limit(u64, Option<u32>),
    RemoveGroup(u64),
    ReturnWork(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let queue = prop_oneof![Just(None), (1u64..4).prop_map(Some)];
    prop_oneof![
        4 => queue.prop_map(Op::Enqueue),
        3 => (0usize..64).prop_map(Op::Release),
        1 => (1u64..5, proptest::collection::vec(1u64..4, 0..3), 1u32..4).prop_map(|(a, g, c)| Op::Agent(a, g, c)),
        1 => (1u64..5, any::<bool>()).prop_map(|(a, b)| Op::Online(a, b)),
        1 => (1u64..5, any::<bool>()).prop_map(|(a, b)| Op::Available(a, b)),
        1 => (1u64..5).prop_map(Op::TakeNext),
        1 => (1u64..4, proptest::option::of(0u32..4)).prop_map(|(g, m)| Op::Limit(g, m)),
        1 => (1u64..4).prop_map(Op::RemoveGroup),
        1 => (1u64..5).prop_map(Op::ReturnWork),
    ]
}

fn apply(routing: &mut Routing, op: &Op, next_id: &mut u64, now: u64) {
    match op {
        Op::Enqueue(queue) => {
            *next_id += 1;
            let _ = routing.enqueue(ConversationId(*next_id), ticket(*queue, now), now);
        }
        Op::Release(n) => {
            let held: Vec<ConversationId> = routing
                .waiting
                .keys()
                .chain(routing.assigned.keys())
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if !held.is_empty() {
                let _ = routing.release(held[n % held.len()], now);
            }
        }
        Op::Agent(id, groups, capacity) => {
            let groups = groups.iter().map(|g| GroupId(*g)).collect();
            let settings = AgentSettings { capacity: Some(*capacity), groups, mode: AssignMode::Automatic };
            routing.upsert_agent(UserId(*id), settings, now);
        }
        Op::Online(id, on) => drop(routing.set_online(UserId(*id), *on, now)),
        Op::Available(id, on) => drop(routing.set_available(UserId(*id), *on, now)),
        Op::TakeNext(id) => drop(routing.take_next(UserId(*id), now)),
        Op::Limit(group, max_queue) => {
            drop(routing.set_group(GroupId(*group), GroupRules { max_queue: *max_queue, ..GroupRules::default() }, now))
        }
        Op::RemoveGroup(group) => drop(routing.remove_group(GroupId(*group), now)),
        Op::ReturnWork(id) => drop(routing.return_conversations(UserId(*id), now)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whatever happens, batch after batch, the snapshot made from the changes equals one made
    /// from scratch, and every waiting conversation's place is the one routing gives.
    #[test]
    fn the_incremental_snapshot_equals_a_full_rebuild(batches in proptest::collection::vec(proptest::collection::vec(op(), 1..6), 1..30)) {
        let mut routing = Routing::new(2);
        let mut snapshot = Snapshot::build(&routing, Arc::default());
        let mut next_id = 0;
        for (now, batch) in batches.iter().enumerate() {
            for op in batch {
                apply(&mut routing, op, &mut next_id, now as u64 + 1);
            }
            let dirty = routing.take_dirty();
            if let Some(next) = snapshot.next(&routing, &dirty, Arc::clone(&snapshot.day)) {
                snapshot = next;
            }
            let full = Snapshot::build(&routing, Arc::default());
            prop_assert!(same(&snapshot, &full), "incremental {:?}\nfull {:?}", snapshot, full);
            for (id, ticket) in &routing.waiting {
                prop_assert_eq!(snapshot.place(*id, ticket.queue), routing.place(*id));
            }
            for (id, agent) in routing.agents() {
                let figures = snapshot.agent(*id).unwrap();
                prop_assert_eq!((figures.load, figures.capacity), (agent.open.len(), routing.capacity(agent)));
            }
        }
    }
}
