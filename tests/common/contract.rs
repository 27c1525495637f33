//! The OpenAPI document checked against what the server really sends: every response the
//! harness's helpers receive from a documented route is validated against that route's documented
//! schema for its status (OpenAPI 3.1 schemas are JSON Schema 2020-12). A body that does not
//! validate, or a status the route does not document, fails the test that got it, naming the
//! route, the status and the place in the body. Each schema is compiled once per test process.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use http_body_util::BodyExt;
use jsonschema::Validator;
use serde_json::Value;

const DOCUMENT: &str = include_str!("../../src/http/openapi.json");

struct Contract {
    doc: Value,
    /// Each documented path as its segments (`{id}` matches any one segment).
    paths: Vec<(String, Vec<String>)>,
    /// By (method, path template, status): the compiled schema, or `None` for a body-less answer.
    compiled: Mutex<HashMap<RouteStatus, Option<Arc<Validator>>>>,
}

/// (method, path template, status).
type RouteStatus = (String, String, String);

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| {
    let doc: Value = serde_json::from_str(DOCUMENT).expect("the OpenAPI document is JSON");
    let paths = doc["paths"]
        .as_object()
        .expect("the document has paths")
        .keys()
        .map(|path| (path.clone(), path.split('/').map(str::to_owned).collect()))
        .collect();
    Contract { doc, paths, compiled: Mutex::new(HashMap::new()) }
});

/// Reads the whole response, checks it against the document and hands back one like it.
pub async fn checked(method: &reqwest::Method, response: reqwest::Response) -> reqwest::Response {
    let path = response.url().path().to_owned();
    let (parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => panic!("{method} {path} → {}: the body could not be read: {err}", parts.status),
    };
    let content_type = parts.headers.get(http::header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    if let Err(problem) = check(method.as_str(), &path, parts.status.as_u16(), content_type, &bytes) {
        panic!("the OpenAPI document does not hold: {problem}");
    }
    reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::from(bytes)))
}

/// `Err` says what in the answer breaks the document.
pub fn check(method: &str, path: &str, status: u16, content_type: Option<&str>, body: &[u8]) -> Result<(), String> {
    let contract = &*CONTRACT;
    let Some(template) = contract.template(path) else { return Ok(()) };
    let route = format!("{method} {template} (asked {path}) → {status}");
    let operation = &contract.doc["paths"][&template][method.to_ascii_lowercase()];
    if !operation.is_object() {
        return Err(format!("{route}: the route has no such method in the document"));
    }
    let key = (method.to_owned(), template.clone(), status.to_string());
    let validator = {
        let mut compiled = contract.compiled.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match compiled.get(&key) {
            Some(validator) => validator.clone(),
            None => {
                let validator = contract.compile(&template, method, status).map_err(|err| format!("{route}: {err}"))?;
                compiled.insert(key, validator.clone());
                validator
            }
        }
    };
    let Some(validator) = validator else { return Ok(()) };
    if !content_type.is_some_and(|kind| kind.starts_with("application/json")) {
        return Err(format!("{route}: documented as JSON, sent as {content_type:?}"));
    }
    let instance: Value =
        serde_json::from_slice(body).map_err(|err| format!("{route}: the body is not JSON: {err}"))?;
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .take(5)
        .map(|err| format!("at \"{}\": {err} (schema {})", err.instance_path(), err.schema_path()))
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{route}: the body does not match its schema:\n  {}\nbody: {}",
        errors.join("\n  "),
        shorten(&instance)
    ))
}

impl Contract {
    /// The documented path `path` is an instance of, preferring literal segments over `{params}`.
    fn template(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        self.paths
            .iter()
            .filter(|(_, template)| template.len() == segments.len())
            .filter_map(|(name, template)| {
                let mut literal = 0;
                for (part, asked) in template.iter().zip(&segments) {
                    if part.starts_with('{') && part.ends_with('}') {
                        continue;
                    }
                    if part != asked {
                        return None;
                    }
                    literal += 1;
                }
                Some((literal, name))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, name)| name.clone())
    }

    /// The route's schema for `status` as one 2020-12 schema: the whole document as the root, so
    /// its `#/components/…` references resolve, with a `$ref` to the response's schema.
    fn compile(&self, template: &str, method: &str, status: u16) -> Result<Option<Arc<Validator>>, String> {
        // A JSON pointer in a URI fragment: `~` and `/` escaped, then the braces of `{id}` percent-encoded.
        let escape = |part: &str| part.replace('~', "~0").replace('/', "~1").replace('{', "%7B").replace('}', "%7D");
        let responses = format!("#/paths/{}/{}/responses", escape(template), method.to_ascii_lowercase());
        let listed = self.at(&responses);
        let code = [status.to_string(), format!("{}XX", status / 100), "default".to_owned()]
            .into_iter()
            .find(|code| listed.get(code).is_some())
            .ok_or_else(|| format!("the status is not documented (documented: {:?})", keys(listed)))?;
        let mut response = format!("{responses}/{}", escape(&code));
        if let Some(reference) = self.at(&response).get("$ref").and_then(Value::as_str) {
            response = reference.to_owned();
        }
        let schema = format!("{response}/content/application~1json/schema");
        if self.at(&schema).is_null() {
            return Ok(None);
        }
        let mut root = self.doc.clone();
        root["$schema"] = Value::from("https://json-schema.org/draft/2020-12/schema");
        root["$ref"] = Value::from(schema.clone());
        let validator = jsonschema::draft202012::options()
            .build(&root)
            .map_err(|err| format!("its schema {schema} does not compile: {err}"))?;
        Ok(Some(Arc::new(validator)))
    }

    /// The value at a `#/…` pointer of the document (null when there is none).
    fn at(&self, pointer: &str) -> &Value {
        let pointer = pointer.trim_start_matches('#').replace("%7B", "{").replace("%7D", "}");
        self.doc.pointer(&pointer).unwrap_or(&Value::Null)
    }
}

fn keys(value: &Value) -> Vec<&str> {
    value.as_object().map(|map| map.keys().map(String::as_str).collect()).unwrap_or_default()
}

fn shorten(body: &Value) -> String {
    let text = body.to_string();
    match text.char_indices().nth(600) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}
