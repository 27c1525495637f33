//! What hooks return, read strictly: anything a hook may not return is an error that names what
//! was expected, so a rule author sees the mistake on the Rules screen instead of a silent no-op.

use rhai::{Dynamic, Map};
use serde::Serialize;

/// One thing `on_message` asks for. Each becomes part of a command, so it passes the same checks
/// as when a person does it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send this text to the customer.
    Reply(String),
    /// An internal note, seen by staff only.
    Note(String),
    /// Add a label to the conversation.
    Label(String),
    /// Move the conversation to the queue of the group with this name.
    Group(String),
    /// Finalize the conversation with this reason.
    Finalize(String),
}

const ACTION_KEYS: [&str; 5] = ["reply", "note", "label", "group", "finalize"];

/// `on_message`'s result: `()`, one action map, or an array of them. A map may hold several
/// actions; they apply in the order reply, note, label, group, finalize.
pub fn parse_actions(value: Dynamic) -> Result<Vec<Action>, String> {
    if value.is_unit() {
        return Ok(Vec::new());
    }
    if value.is_array() {
        let items = value.into_array().map_err(|kind| format!("expected an array, got {kind}"))?;
        let mut actions = Vec::new();
        for item in items {
            actions.extend(parse_map(item)?);
        }
        return Ok(actions);
    }
    parse_map(value)
}

fn parse_map(value: Dynamic) -> Result<Vec<Action>, String> {
    let kind = value.type_name();
    let map = value.try_cast::<Map>().ok_or_else(|| {
        format!("on_message must return an action map like #{{reply: \"…\"}} or an array of them, not {kind}")
    })?;
    if let Some(unknown) = map.keys().find(|key| !ACTION_KEYS.contains(&key.as_str())) {
        return Err(format!("unknown action `{unknown}` (the actions are reply, note, label, group and finalize)"));
    }
    let mut actions = Vec::new();
    for key in ACTION_KEYS {
        let Some(value) = map.get(key) else { continue };
        let text = value.clone().into_string().map_err(|kind| format!("`{key}` must be a string, not {kind}"))?;
        actions.push(match key {
            "reply" => Action::Reply(text),
            "note" => Action::Note(text),
            "label" => Action::Label(text),
            "group" => Action::Group(text),
            _ => Action::Finalize(text),
        });
    }
    Ok(actions)
}

/// `should_close`'s result: `None` keeps the conversation open; `Some(message)` closes it, sending
/// `message` first when there is one.
pub fn parse_close(value: Dynamic) -> Result<Option<Option<String>>, String> {
    if value.is_unit() {
        return Ok(None);
    }
    if let Ok(close) = value.as_bool() {
        return Ok(close.then_some(None));
    }
    let kind = value.type_name();
    let map = value.try_cast::<Map>().ok_or_else(|| {
        format!("should_close must return true, false or #{{close: true, message: \"…\"}}, not {kind}")
    })?;
    if let Some(unknown) = map.keys().find(|key| !["close", "message"].contains(&key.as_str())) {
        return Err(format!("unknown key `{unknown}` in should_close's answer (expected close and message)"));
    }
    let close = match map.get("close") {
        Some(close) => close.as_bool().map_err(|kind| format!("`close` must be true or false, not {kind}"))?,
        None => return Err("should_close's map needs `close: true` or `close: false`".into()),
    };
    let message = match map.get("message") {
        Some(message) if !message.is_unit() => {
            Some(message.clone().into_string().map_err(|kind| format!("`message` must be a string, not {kind}"))?)
        }
        _ => None,
    };
    Ok(close.then_some(message))
}

/// What `assign` picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// This candidate.
    Agent(u64),
    /// Nobody now: the conversation stays queued (`()`).
    Leave,
    /// The group's built-in policy decides (`"default"`).
    Default,
}

/// `assign`'s result: a candidate's id (or the candidate map itself), `()` to leave the
/// conversation queued, or `"default"` for the built-in policy. An id must be one of `candidates`.
pub fn parse_assign(value: Dynamic, candidates: &[u64]) -> Result<Pick, String> {
    if value.is_unit() {
        return Ok(Pick::Leave);
    }
    if value.clone().into_string().is_ok_and(|text| text == "default") {
        return Ok(Pick::Default);
    }
    let id = match value.as_int() {
        Ok(id) => id,
        Err(kind) => {
            let map = value.try_cast::<Map>().ok_or_else(|| {
                format!("assign must return a candidate's id, a candidate, () or \"default\", not {kind}")
            })?;
            map.get("id").and_then(|id| id.as_int().ok()).ok_or("the map assign returned has no integer `id`")?
        }
    };
    let id = u64::try_from(id).map_err(|_| format!("assign returned {id}, which is not an agent id"))?;
    if !candidates.contains(&id) {
        return Err(format!("assign returned agent {id}, who is not among the candidates (free and eligible agents)"));
    }
    Ok(Pick::Agent(id))
}

/// `permit`'s result: the decision, true or false.
pub fn parse_permit(value: Dynamic) -> Result<bool, String> {
    value.as_bool().map_err(|kind| format!("permit must return true or false, not {kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(source: &str) -> Dynamic {
        super::super::engine().eval::<Dynamic>(source).unwrap()
    }

    #[test]
    fn actions_come_as_one_map_an_array_or_nothing() {
        assert_eq!(parse_actions(eval("()")).unwrap(), vec![]);
        assert_eq!(parse_actions(eval("#{reply: \"hola\"}")).unwrap(), vec![Action::Reply("hola".into())]);
        let many = parse_actions(eval("[#{label: \"precio\"}, #{finalize: \"spam\", note: \"n\"}]")).unwrap();
        assert_eq!(
            many,
            vec![Action::Label("precio".into()), Action::Note("n".into()), Action::Finalize("spam".into())]
        );
    }

    #[test]
    fn wrong_actions_say_what_was_expected() {
        assert!(parse_actions(eval("#{replay: \"x\"}")).unwrap_err().contains("unknown action `replay`"));
        assert!(parse_actions(eval("#{reply: 3}")).unwrap_err().contains("`reply` must be a string"));
        assert!(parse_actions(eval("42")).unwrap_err().contains("action map"));
        assert!(parse_actions(eval("[#{reply: \"a\"}, 1]")).is_err());
    }

    #[test]
    fn closing_answers() {
        assert_eq!(parse_close(eval("false")).unwrap(), None);
        assert_eq!(parse_close(eval("true")).unwrap(), Some(None));
        assert_eq!(parse_close(eval("#{close: true, message: \"adiós\"}")).unwrap(), Some(Some("adiós".into())));
        assert_eq!(parse_close(eval("#{close: false, message: \"x\"}")).unwrap(), None);
        assert!(parse_close(eval("#{message: \"x\"}")).is_err());
        assert!(parse_close(eval("\"yes\"")).is_err());
    }

    #[test]
    fn an_assignment_must_name_a_candidate() {
        assert_eq!(parse_assign(eval("()"), &[1, 2]).unwrap(), Pick::Leave);
        assert_eq!(parse_assign(eval("\"default\""), &[1, 2]).unwrap(), Pick::Default);
        assert_eq!(parse_assign(eval("2"), &[1, 2]).unwrap(), Pick::Agent(2));
        assert_eq!(parse_assign(eval("#{id: 1, load: 0}"), &[1, 2]).unwrap(), Pick::Agent(1));
        assert!(parse_assign(eval("7"), &[1, 2]).unwrap_err().contains("not among the candidates"));
        assert!(parse_assign(eval("-1"), &[1, 2]).is_err());
        assert!(parse_assign(eval("\"ana\""), &[1, 2]).is_err());
    }

    #[test]
    fn a_permission_is_a_boolean() {
        assert!(parse_permit(eval("true")).unwrap());
        assert!(!parse_permit(eval("false")).unwrap());
        assert!(parse_permit(eval("1")).is_err());
    }
}
