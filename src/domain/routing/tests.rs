use proptest::prelude::*;

use super::*;

fn ticket(queue: Option<u64>, at: u64, contact: u64) -> Ticket {
    Ticket { queue: queue.map(GroupId), enqueued_at: at, contact: ContactId(contact), mode: AssignMode::Automatic }
}

fn agent(routing: &mut Routing, id: u64, groups: &[u64], capacity: Option<u32>) {
    let settings =
        AgentSettings { capacity, groups: groups.iter().map(|g| GroupId(*g)).collect(), mode: AssignMode::Automatic };
    routing.upsert_agent(UserId(id), settings, 0);
    routing.set_online(UserId(id), true, 0).unwrap();
    routing.set_available(UserId(id), true, 0).unwrap();
}

#[test]
fn two_agents_of_two_slots_take_four_of_seven_and_three_wait_in_order() {
    let mut routing = Routing::new(6);
    agent(&mut routing, 1, &[], Some(2));
    agent(&mut routing, 2, &[], Some(2));
    let mut assigned = Vec::new();
    for n in 1..=7 {
        assigned.extend(routing.enqueue(ConversationId(n), ticket(None, n, n), n).unwrap());
    }
    assert_eq!(assigned.len(), 4);
    assert_eq!(routing.agent(UserId(1)).unwrap().open.len(), 2);
    assert_eq!(routing.agent(UserId(2)).unwrap().open.len(), 2);
    assert_eq!(routing.queue(None).collect::<Vec<_>>(), vec![ConversationId(5), ConversationId(6), ConversationId(7)]);
    assert_eq!(routing.position(ConversationId(6)), Some(2));
    // Finalizing one of agent 2's gives that slot the oldest waiter, at once.
    let freed = *routing.agent(UserId(2)).unwrap().open.iter().next().unwrap();
    let next = routing.release(freed, 10).unwrap();
    assert_eq!(next, vec![Assignment { conversation: ConversationId(5), agent: UserId(2) }]);
}

#[test]
fn an_outside_policy_is_asked_and_its_answers_pick_among_candidates_or_leave_the_conversation_queued() {
    let mut routing = Routing::new(1);
    routing.set_outside(true, 0);
    agent(&mut routing, 1, &[], None);
    agent(&mut routing, 2, &[], None);
    assert!(routing.enqueue(ConversationId(1), ticket(None, 1, 1), 1).unwrap().is_empty(), "asked, not assigned");
    let asked = routing.take_questions();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].candidates.len(), 2, "both agents were candidates");
    let picked = routing.answer(ConversationId(1), Choice::Agent(UserId(2)), 2);
    assert_eq!(picked, vec![Assignment { conversation: ConversationId(1), agent: UserId(2) }]);
    // Left queued, it does not hold up the customer behind it, who is asked in turn.
    routing.enqueue(ConversationId(2), ticket(None, 2, 2), 2).unwrap();
    assert!(routing.answer(ConversationId(2), Choice::Leave, 3).is_empty());
    routing.enqueue(ConversationId(9), ticket(None, 3, 9), 3).unwrap();
    let questions = routing.take_questions();
    assert_eq!(
        questions.iter().map(|q| q.conversation).collect::<Vec<_>>(),
        vec![ConversationId(2), ConversationId(9)]
    );
    assert_eq!(
        questions[1].candidates.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![UserId(1)],
        "full agents are not candidates"
    );
    let behind = routing.answer(ConversationId(9), Choice::Builtin, 3);
    assert_eq!(behind, vec![Assignment { conversation: ConversationId(9), agent: UserId(1) }]);
    assert_eq!(routing.queue(None).collect::<Vec<_>>(), vec![ConversationId(2)]);
    assert!(routing.take_questions().is_empty(), "a left conversation is not asked again until room frees");
    // Room frees: the left one is asked again; an answer naming a stranger goes to the built-in policy.
    routing.release(ConversationId(9), 4).unwrap();
    assert_eq!(routing.take_questions().iter().map(|q| q.conversation).collect::<Vec<_>>(), vec![ConversationId(2)]);
    let stranger = routing.answer(ConversationId(2), Choice::Agent(UserId(99)), 5);
    assert_eq!(stranger, vec![Assignment { conversation: ConversationId(2), agent: UserId(1) }]);
    // An answer that comes too late (the conversation was released meanwhile) changes nothing.
    routing.release(ConversationId(2), 6).unwrap();
    routing.enqueue(ConversationId(3), ticket(None, 4, 3), 6).unwrap();
    routing.take_questions();
    routing.release(ConversationId(3), 7).unwrap();
    assert!(routing.answer(ConversationId(3), Choice::Agent(UserId(1)), 8).is_empty());
}

#[test]
fn turning_the_outside_policy_off_assigns_what_it_was_asked_about() {
    let mut routing = Routing::new(2);
    routing.set_outside(true, 0);
    agent(&mut routing, 1, &[], None);
    routing.enqueue(ConversationId(1), ticket(None, 1, 1), 1).unwrap();
    assert_eq!(routing.take_questions().len(), 1);
    let made = routing.set_outside(false, 2);
    assert_eq!(made, vec![Assignment { conversation: ConversationId(1), agent: UserId(1) }]);
    // Questions lost (the rules fell behind): asking again puts them again.
    routing.set_outside(true, 3);
    routing.enqueue(ConversationId(2), ticket(None, 2, 2), 3).unwrap();
    routing.take_questions();
    routing.ask_again(4);
    assert_eq!(routing.take_questions().len(), 1);
}

#[test]
fn equitable_spreads_and_breaks_ties_by_longest_idle() {
    let mut routing = Routing::new(6);
    agent(&mut routing, 1, &[], None);
    agent(&mut routing, 2, &[], None);
    let first = routing.enqueue(ConversationId(1), ticket(None, 1, 1), 1).unwrap();
    let second = routing.enqueue(ConversationId(2), ticket(None, 2, 2), 2).unwrap();
    assert_ne!(first[0].agent, second[0].agent, "the second goes to the agent with fewer");
    routing.release(ConversationId(1), 3).unwrap();
    routing.release(ConversationId(2), 4).unwrap();
    // Both now have none; the one assigned longest ago (first) gets the next.
    let third = routing.enqueue(ConversationId(3), ticket(None, 5, 3), 5).unwrap();
    assert_eq!(third[0].agent, first[0].agent);
}

#[test]
fn unavailable_offline_and_manual_agents_get_nothing_new() {
    let mut routing = Routing::new(6);
    agent(&mut routing, 1, &[], None);
    routing.set_available(UserId(1), false, 0).unwrap();
    agent(&mut routing, 2, &[], None);
    routing.set_online(UserId(2), false, 0).unwrap();
    agent(&mut routing, 3, &[], None);
    routing.upsert_agent(UserId(3), AgentSettings { mode: AssignMode::Manual, ..AgentSettings::default() }, 0);
    assert!(routing.enqueue(ConversationId(1), ticket(None, 1, 1), 1).unwrap().is_empty());
    // The manual agent takes it by hand.
    assert_eq!(
        routing.take_next(UserId(3), 2).unwrap(),
        Some(Assignment { conversation: ConversationId(1), agent: UserId(3) })
    );
    // Becoming available again takes waiting work at once.
    routing.enqueue(ConversationId(2), ticket(None, 3, 2), 3).unwrap();
    let back = routing.set_available(UserId(1), true, 4).unwrap();
    assert_eq!(back, vec![Assignment { conversation: ConversationId(2), agent: UserId(1) }]);
}

#[test]
fn manual_and_unrouted_channels_wait_for_a_person() {
    let mut routing = Routing::new(6);
    agent(&mut routing, 1, &[], None);
    let manual = Ticket { mode: AssignMode::Manual, ..ticket(None, 1, 1) };
    let unrouted = Ticket { mode: AssignMode::None, ..ticket(None, 2, 2) };
    assert!(routing.enqueue(ConversationId(1), manual, 1).unwrap().is_empty(), "manual: not given out");
    assert!(routing.enqueue(ConversationId(2), unrouted, 2).unwrap().is_empty());
    let automatic = routing.enqueue(ConversationId(3), ticket(None, 3, 3), 3).unwrap();
    assert_eq!(automatic[0].conversation, ConversationId(3), "an automatic one behind them is not blocked");
    assert_eq!(routing.take_next(UserId(1), 4).unwrap().unwrap().conversation, ConversationId(1));
    assert_eq!(routing.take_next(UserId(1), 5).unwrap(), None, "the dispenser never takes unrouted ones");
    assert_eq!(routing.assign_to(ConversationId(2), UserId(1), false, 6).unwrap()[0].conversation, ConversationId(2));
}

#[test]
fn groups_have_their_own_queues_capacities_and_limits() {
    let mut routing = Routing::new(6);
    routing.set_group(GroupId(10), GroupRules { capacity: Some(1), policy: Policy::Equitable, max_queue: Some(1) }, 0);
    agent(&mut routing, 1, &[10], None);
    agent(&mut routing, 2, &[], None);
    assert_eq!(routing.capacity(routing.agent(UserId(1)).unwrap()), 1, "the group's cap applies");
    let a = routing.enqueue(ConversationId(1), ticket(Some(10), 1, 1), 1).unwrap();
    assert_eq!(a[0].agent, UserId(1), "only group members serve the group's queue");
    assert!(routing.enqueue(ConversationId(2), ticket(Some(10), 2, 2), 2).unwrap().is_empty());
    assert!(routing.queue_full(Some(GroupId(10))));
    assert!(routing.enqueue(ConversationId(3), ticket(Some(10), 3, 3), 3).unwrap().is_empty(), "waits, overflowed");
    assert_eq!(routing.place(ConversationId(3)), Some(Place { position: 2, overflow: true }));
    // Deleting the group sends its waiting conversations to the general queue, where agent 2 takes them.
    let moved = routing.remove_group(GroupId(10), 4);
    assert_eq!(moved.len(), 2);
    assert_eq!(moved[0], Assignment { conversation: ConversationId(2), agent: UserId(2) });
}

#[test]
fn a_full_queue_keeps_the_overflow_in_order_and_lets_it_in_as_room_frees() {
    let mut routing = Routing::new(1);
    routing.set_group(GroupId(7), GroupRules { max_queue: Some(2), ..GroupRules::default() }, 0);
    for n in 1..=5 {
        assert!(routing.enqueue(ConversationId(n), ticket(Some(7), n, n), n).unwrap().is_empty());
    }
    let overflowed = |routing: &Routing| -> Vec<u64> {
        (1..=5).filter(|n| routing.place(ConversationId(*n)).is_some_and(|p| p.overflow)).collect()
    };
    assert_eq!(overflowed(&routing), vec![3, 4, 5], "the two oldest are in the queue, the rest beyond it");
    assert_eq!(routing.place(ConversationId(4)), Some(Place { position: 4, overflow: true }));
    // An agent with one slot takes the oldest; the oldest of the overflow enters the queue.
    agent(&mut routing, 1, &[7], None);
    assert_eq!(routing.assignee(ConversationId(1)), Some(UserId(1)));
    assert_eq!(overflowed(&routing), vec![4, 5]);
    assert_eq!(routing.place(ConversationId(3)), Some(Place { position: 2, overflow: false }));
    // A waiting customer leaving lets the next one in, and the order is kept.
    routing.release(ConversationId(2), 10).unwrap();
    assert_eq!(overflowed(&routing), vec![5]);
    let order: Vec<ConversationId> = routing.queue(Some(GroupId(7))).collect();
    assert_eq!(order, vec![ConversationId(3), ConversationId(4), ConversationId(5)]);
    // As the agent's slot frees, they are served oldest first.
    assert_eq!(routing.release(ConversationId(1), 11).unwrap()[0].conversation, ConversationId(3));
    assert_eq!(routing.release(ConversationId(3), 12).unwrap()[0].conversation, ConversationId(4));
    assert_eq!(overflowed(&routing), Vec::<u64>::new());
}

#[test]
fn taking_a_chosen_conversation_is_checked() {
    let mut routing = Routing::new(1);
    agent(&mut routing, 1, &[5], None);
    agent(&mut routing, 2, &[], None);
    routing.set_available(UserId(1), false, 0).unwrap();
    routing.set_available(UserId(2), false, 0).unwrap();
    let manual = |queue, at| Ticket { mode: AssignMode::Manual, ..ticket(queue, at, at) };
    routing.enqueue(ConversationId(1), manual(Some(5), 1), 1).unwrap();
    routing.enqueue(ConversationId(2), manual(Some(5), 2), 2).unwrap();
    routing.enqueue(ConversationId(3), Ticket { mode: AssignMode::None, ..ticket(None, 3, 3) }, 3).unwrap();
    assert_eq!(routing.take(ConversationId(1), UserId(2), 4), Err(RoutingError::NotServed));
    assert_eq!(routing.take(ConversationId(3), UserId(2), 4), Err(RoutingError::SupervisorAssigns));
    assert_eq!(routing.take(ConversationId(9), UserId(1), 4), Err(RoutingError::NotWaiting));
    assert_eq!(routing.take(ConversationId(1), UserId(9), 4), Err(RoutingError::UnknownAgent));
    // The newer one, by choice: the dispenser is not only "the next one".
    assert_eq!(
        routing.take(ConversationId(2), UserId(1), 4),
        Ok(Assignment { conversation: ConversationId(2), agent: UserId(1) })
    );
    assert_eq!(routing.take(ConversationId(2), UserId(1), 5), Err(RoutingError::NotWaiting), "taken already");
    assert_eq!(routing.take(ConversationId(1), UserId(1), 5), Err(RoutingError::AgentFull), "at the cap of 1");
    assert_eq!(routing.take_next(UserId(1), 5), Err(RoutingError::AgentFull));
}

#[test]
fn sticky_sends_a_returning_customer_to_the_same_agent_within_30_days() {
    let mut routing = Routing::new(6);
    routing.set_group(GroupId(1), GroupRules { policy: Policy::Sticky, ..GroupRules::default() }, 0);
    agent(&mut routing, 1, &[1], None);
    agent(&mut routing, 2, &[1], None);
    let first = routing.enqueue(ConversationId(1), ticket(Some(1), 1, 77), 1).unwrap()[0].agent;
    routing.release(ConversationId(1), 2).unwrap();
    routing.enqueue(ConversationId(2), ticket(Some(1), 3, 88), 3).unwrap();
    let again = routing.enqueue(ConversationId(3), ticket(Some(1), 4, 77), 4).unwrap()[0].agent;
    assert_eq!(again, first, "same agent although the other has fewer");
    routing.release(ConversationId(3), 5).unwrap();
    routing.release(ConversationId(2), 5).unwrap();
    // Both idle now; the other agent has waited longer, so equitable picks them once the window passes.
    let late = 5 + STICKY_WINDOW_MS + 1;
    let other = if first == UserId(1) { UserId(2) } else { UserId(1) };
    let chosen = routing.enqueue(ConversationId(4), ticket(Some(1), late, 77), late).unwrap()[0].agent;
    assert_eq!(chosen, other, "past 30 days: equitable");
}

#[test]
fn an_agent_away_too_long_returns_work_to_the_head_of_the_queue() {
    let mut routing = Routing::new(1);
    agent(&mut routing, 1, &[], None);
    routing.enqueue(ConversationId(1), ticket(None, 1, 1), 1).unwrap();
    routing.enqueue(ConversationId(2), ticket(None, 2, 2), 2).unwrap();
    routing.set_online(UserId(1), false, 3).unwrap();
    assert!(routing.return_conversations(UserId(1), 4).is_empty());
    assert_eq!(
        routing.queue(None).collect::<Vec<_>>(),
        vec![ConversationId(1), ConversationId(2)],
        "kept its original place"
    );
    agent(&mut routing, 2, &[], None);
    assert_eq!(routing.assignee(ConversationId(1)), Some(UserId(2)));
}

#[test]
fn transfers_respect_capacity_unless_forced() {
    let mut routing = Routing::new(1);
    agent(&mut routing, 1, &[], None);
    agent(&mut routing, 2, &[], None);
    routing.enqueue(ConversationId(1), ticket(None, 1, 1), 1).unwrap();
    routing.enqueue(ConversationId(2), ticket(None, 2, 2), 2).unwrap();
    let holder = routing.assignee(ConversationId(1)).unwrap();
    let other = if holder == UserId(1) { UserId(2) } else { UserId(1) };
    assert_eq!(routing.assign_to(ConversationId(1), other, false, 3), Err(RoutingError::AgentFull));
    let moved = routing.assign_to(ConversationId(1), other, true, 3).unwrap();
    assert_eq!(moved[0], Assignment { conversation: ConversationId(1), agent: other });
    assert_eq!(routing.agent(other).unwrap().open.len(), 2, "a supervisor may force past the cap");
}

/// One step of a random session of routing events.
#[derive(Debug, Clone)]
enum Step {
    Enqueue { group: Option<u64> },
    Release { pick: usize },
    Available { agent: u64, on: bool },
    Online { agent: u64, on: bool },
    Capacity { agent: u64, cap: Option<u32> },
    ReturnWork { agent: u64 },
    TakeNext { agent: u64 },
    Take { agent: u64, pick: usize },
    AssignTo { agent: u64, pick: usize, force: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::option::of(0u64..3).prop_map(|group| Step::Enqueue { group }),
        3 => any::<usize>().prop_map(|pick| Step::Release { pick }),
        1 => (0u64..5, any::<bool>()).prop_map(|(agent, on)| Step::Available { agent, on }),
        1 => (0u64..5, any::<bool>()).prop_map(|(agent, on)| Step::Online { agent, on }),
        1 => (0u64..5, prop::option::of(0u32..4)).prop_map(|(agent, cap)| Step::Capacity { agent, cap }),
        1 => (0u64..5).prop_map(|agent| Step::ReturnWork { agent }),
        1 => (0u64..5).prop_map(|agent| Step::TakeNext { agent }),
        1 => (0u64..5, any::<usize>()).prop_map(|(agent, pick)| Step::Take { agent, pick }),
        1 => (0u64..6, any::<usize>(), any::<bool>()).prop_map(|(agent, pick, force)| Step::AssignTo { agent, pick, force }),
    ]
}

fn groups_of(agent: u64) -> BTreeSet<GroupId> {
    (0..3).filter(|g| (agent + g).is_multiple_of(2)).map(GroupId).collect()
}

/// After every step: nobody over capacity by automatic assignment, nothing to an unavailable or
/// offline agent, FIFO within each queue, no conversation lost or duplicated, and no waiting
/// conversation with an eligible free agent.
fn check(routing: &Routing, made: &[Assignment], before: &Routing, alive: &BTreeSet<ConversationId>) {
    for assignment in made {
        let agent = routing.agent(assignment.agent).unwrap();
        assert!(agent.available && agent.online, "assigned to an unavailable or offline agent");
        assert!(agent.open.len() as u32 <= routing.capacity(agent), "over capacity");
        if let Some(ticket) = before.ticket(assignment.conversation) {
            let older = before.queue(ticket.queue).take_while(|c| *c != assignment.conversation);
            for waiting in older {
                assert!(
                    routing.ticket(waiting).is_none() || made.iter().any(|a| a.conversation == waiting),
                    "FIFO broken"
                );
            }
        }
    }
    let mut seen = BTreeSet::new();
    for queue in [None, Some(GroupId(0)), Some(GroupId(1)), Some(GroupId(2))] {
        let max = queue.and_then(|group| routing.group_rules(group).max_queue);
        for (index, conversation) in routing.queue(queue).enumerate() {
            assert_eq!(routing.place(conversation), Some(Place::at(index, max)), "overflow is the tail past the limit");
            assert!(seen.insert(conversation), "duplicated");
            let eligible = routing.agents().any(|(_, agent)| routing.takes_work(agent) && routing.serves(agent, queue));
            assert!(!eligible, "{conversation:?} waits while an eligible agent has a free slot");
        }
    }
    for (_, agent) in routing.agents() {
        for conversation in &agent.open {
            assert!(seen.insert(*conversation), "duplicated");
        }
    }
    assert_eq!(&seen, alive, "a conversation was lost or appeared");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn routing_invariants_hold_over_random_sessions(steps in prop::collection::vec(step(), 1..80)) {
        let mut routing = Routing::new(2);
        routing.set_group(GroupId(1), GroupRules { max_queue: Some(2), ..GroupRules::default() }, 0);
        for id in 0..5 {
            let settings = AgentSettings { capacity: None, groups: groups_of(id), mode: AssignMode::Automatic };
            routing.upsert_agent(UserId(id), settings, 0);
        }
        let mut alive = BTreeSet::new();
        let mut next = 0u64;
        for (now, step) in steps.into_iter().enumerate() {
            let now = now as u64 + 1;
            let before = routing.clone();
            let made = match step {
                Step::Enqueue { group } => {
                    next += 1;
                    alive.insert(ConversationId(next));
                    routing.enqueue(ConversationId(next), ticket(group, now, next % 4), now).unwrap()
                }
                Step::Release { pick } if !alive.is_empty() => {
                    let conversation = *alive.iter().nth(pick % alive.len()).unwrap();
                    alive.remove(&conversation);
                    routing.release(conversation, now).unwrap()
                }
                Step::Release { .. } => Vec::new(),
                Step::Available { agent, on } => routing.set_available(UserId(agent), on, now).unwrap(),
                Step::Online { agent, on } => routing.set_online(UserId(agent), on, now).unwrap(),
                Step::Capacity { agent, cap } => {
                    let settings = AgentSettings { capacity: cap, groups: groups_of(agent), mode: AssignMode::Automatic };
                    routing.upsert_agent(UserId(agent), settings, now)
                }
                Step::ReturnWork { agent } => routing.return_conversations(UserId(agent), now),
                Step::TakeNext { agent } => {
                    // The dispenser may serve an unavailable agent by hand; check only the rest.
                    let would = routing.next_for(UserId(agent));
                    let took = routing.take_next(UserId(agent), now);
                    assert_eq!(took.map(|t| t.map(|a| a.conversation)), would, "next_for answers as take_next");
                    Vec::new()
                }
                Step::Take { agent, pick } if !alive.is_empty() => {
                    let conversation = *alive.iter().nth(pick % alive.len()).unwrap();
                    let waiting = before.ticket(conversation);
                    let would = routing.may_take(conversation, UserId(agent)).map(|ticket| ticket.enqueued_at);
                    let took = routing.take(conversation, UserId(agent), now);
                    assert_eq!(took.map(|_| waiting.map_or(0, |t| t.enqueued_at)), would, "may_take answers as take");
                    if took.is_ok() {
                        let this = routing.agent(UserId(agent)).unwrap();
                        assert!(this.open.len() as u32 <= routing.capacity(this), "taken past the cap");
                        let queue = waiting.expect("only a waiting conversation is taken").queue;
                        assert!(routing.serves(this, queue), "taken from a queue the agent does not serve");
                    }
                    Vec::new()
                }
                Step::Take { .. } => Vec::new(),
                Step::AssignTo { agent, pick, force } => {
                    // A pick past the living ones is a conversation routing does not hold.
                    let conversation = alive.iter().nth(pick % (alive.len() + 1)).copied().unwrap_or(ConversationId(0));
                    let checked = routing.check_assign_to(conversation, UserId(agent), force);
                    let done = routing.assign_to(conversation, UserId(agent), force, now);
                    assert_eq!(checked, done.as_ref().map(|_| ()).map_err(|err| *err), "the check and the move agree");
                    // The chosen agent may be forced past their cap; what routing then gave is checked.
                    done.map(|made| made[1..].to_vec()).unwrap_or_default()
                }
            };
            check(&routing, &made, &before, &alive);
        }
    }
}

/// The "only yourself" transfer check: members who do not take work now (offline, not accepting,
/// manual mode, full) do not count, since routing would give the conversation back.
#[test]
fn only_other_members_who_take_work_now_count_as_taking_a_transfer() {
    let mut routing = Routing::new(6);
    agent(&mut routing, 1, &[10], None);
    agent(&mut routing, 2, &[10], Some(1));
    agent(&mut routing, 3, &[20], None);
    let (group, ana) = (GroupId(10), UserId(1));
    assert!(routing.taken_by_others(group, ana), "Bruno takes work");
    routing.set_online(UserId(2), false, 0).unwrap();
    assert!(!routing.taken_by_others(group, ana), "offline");
    routing.set_online(UserId(2), true, 0).unwrap();
    routing.set_available(UserId(2), false, 0).unwrap();
    assert!(!routing.taken_by_others(group, ana), "not accepting");
    routing.set_available(UserId(2), true, 0).unwrap();
    let manual = AgentSettings { capacity: Some(1), groups: [group].into(), mode: AssignMode::Manual };
    routing.upsert_agent(UserId(2), manual, 0);
    assert!(!routing.taken_by_others(group, ana), "manual mode: routing gives him nothing");
    let automatic = AgentSettings { capacity: Some(1), groups: [group].into(), mode: AssignMode::Automatic };
    routing.upsert_agent(UserId(2), automatic, 0);
    assert!(routing.taken_by_others(group, ana));
    // Full: what enters the queue would go to Ana, who has room.
    routing.enqueue(ConversationId(1), ticket(Some(10), 1, 1), 1).unwrap();
    routing.enqueue(ConversationId(2), ticket(Some(10), 2, 2), 2).unwrap();
    assert_eq!(routing.assignee(ConversationId(2)), Some(UserId(2)));
    assert!(!routing.taken_by_others(group, ana), "Bruno is at his cap");
    assert!(routing.taken_by_others(group, UserId(3)), "for anyone else, Ana takes work there");
    assert!(routing.taken_by_others(GroupId(20), ana), "Carla takes work in her own group");
}
