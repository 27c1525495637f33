//! Query strings as typed structs: `Query<T>` deserializes `?a=1&b=x` into `T` (percent-decoded)
//! and runs its `check`; anything wrong is a 400 `invalid_input` naming the parameter in `field`.
//! An unknown parameter is refused too (every filter struct is `deny_unknown_fields`): a typo
//! silently ignored would answer a different list than the one asked for.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};

use super::ApiError;

/// A list's filters, parsed and checked.
pub struct Query<T>(pub T);

/// What a filter struct checks beyond its types (ranges, combinations).
pub trait Filters: DeserializeOwned {
    /// The filters as the list uses them (a limit clamped, say), or what is wrong with them.
    fn check(self) -> Result<Self, ApiError> {
        Ok(self)
    }
}

impl<S: Send + Sync, T: Filters> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// Parses and checks one query string.
pub fn parse<T: Filters>(query: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let filters = T::deserialize(Pairs { pairs: pairs.into_iter(), value: None, key: String::new() })
        .map_err(|err| ApiError::invalid_field(&err.parameter, err.message))?;
    filters.check()
}

/// A list without filters: any parameter is refused.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoFilters {}

impl Filters for NoFilters {}

/// `?before=<id>&limit=<n>` for lists read newest first; limit 1 to 200, each list picks its default.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub before: Option<u64>,
    limit: Option<usize>,
}

impl Page {
    /// The limit asked for, else the list's own default.
    pub fn limit_or(&self, default: usize) -> usize {
        self.limit.unwrap_or(default)
    }
}

impl Filters for Page {
    fn check(self) -> Result<Self, ApiError> {
        check_limit(self.limit)?;
        Ok(self)
    }
}

/// A page is taken as it is, beside a handler's other extractors.
impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or(""))
    }
}

/// `limit`, when given, is from 1 to 200.
pub fn check_limit(limit: Option<usize>) -> Result<(), ApiError> {
    match limit {
        Some(limit) if !(1..=200).contains(&limit) => Err(ApiError::invalid_field("limit", "must be from 1 to 200")),
        _ => Ok(()),
    }
}

/// Why a query did not parse, and the parameter at fault.
#[derive(Debug)]
pub struct QueryError {
    parameter: String,
    message: String,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.parameter, self.message)
    }
}

impl std::error::Error for QueryError {}

impl de::Error for QueryError {
    fn custom<M: std::fmt::Display>(message: M) -> Self {
        let message = message.to_string();
        // serde's "unknown field `x`, expected …" names the parameter itself.
        let unknown = message.strip_prefix("unknown field `").and_then(|rest| rest.split_once('`'));
        match unknown {
            Some((parameter, expected)) => QueryError {
                parameter: parameter.to_owned(),
                message: format!(
                    "is not a parameter of this list{}",
                    expected.replace('`', "").replace("there are no fields", "it takes none")
                ),
            },
            None => QueryError { parameter: String::new(), message },
        }
    }
}

/// The query's pairs as a map to deserialize a struct from.
struct Pairs {
    pairs: std::vec::IntoIter<(String, String)>,
    value: Option<String>,
    key: String,
}

impl<'de> de::Deserializer<'de> for Pairs {
    type Error = QueryError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de> MapAccess<'de> for Pairs {
    type Error = QueryError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, QueryError> {
        let Some((key, value)) = self.pairs.next() else { return Ok(None) };
        self.value = Some(value);
        self.key.clone_from(&key);
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, QueryError> {
        let value = self.value.take().unwrap_or_default();
        seed.deserialize(Value(&value)).map_err(|mut err| {
            if err.parameter.is_empty() {
                err.parameter.clone_from(&self.key);
            }
            err
        })
    }
}

/// One parameter's text, read as the type asked for.
struct Value<'a>(&'a str);

impl Value<'_> {
    fn number<N: std::str::FromStr>(&self) -> Result<N, QueryError> {
        self.0.parse().map_err(|_| de::Error::custom("must be a whole number"))
    }
}

macro_rules! numbers {
    ($($method:ident: $kind:ty => $visit:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
            visitor.$visit(self.number::<$kind>()?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value<'_> {
    type Error = QueryError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_str(self.0)
    }

    numbers!(deserialize_u8: u8 => visit_u8, deserialize_u16: u16 => visit_u16, deserialize_u32: u32 => visit_u32,
        deserialize_u64: u64 => visit_u64, deserialize_i32: i32 => visit_i32, deserialize_i64: i64 => visit_i64);

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        match self.0 {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => Err(de::Error::custom("must be true or false")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, QueryError> {
        visitor.visit_some(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, QueryError> {
        if !variants.contains(&self.0) {
            return Err(de::Error::custom(format!("one of {}", variants.join(", "))));
        }
        visitor.visit_enum(self.0.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i128 u128 f32 f64 char str string bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::error_code::ErrorCode;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields, rename_all = "snake_case")]
    enum Colour {
        Red,
        DarkBlue,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        group: Option<u64>,
        colour: Option<Colour>,
        name: Option<String>,
    }

    impl Filters for Sample {}

    fn field_of(query: &str) -> (Option<String>, String) {
        match parse::<Sample>(query) {
            Err(err) => {
                assert_eq!(err.code, ErrorCode::InvalidInput);
                assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
                (err.field, err.message)
            }
            Ok(sample) => panic!("{query} was taken: {sample:?}"),
        }
    }

    #[test]
    fn a_query_becomes_the_struct() {
        let sample: Sample = parse("group=7&colour=dark_blue&name=Ana%20L%C3%B3pez").unwrap();
        assert_eq!(sample, Sample { group: Some(7), colour: Some(Colour::DarkBlue), name: Some("Ana López".into()) });
        let empty: Sample = parse("").unwrap();
        assert_eq!(empty, Sample { group: None, colour: None, name: None });
        assert_eq!(parse::<Sample>("name=a+b").unwrap().name.as_deref(), Some("a b"));
    }

    #[test]
    fn each_mistake_names_its_parameter() {
        assert_eq!(field_of("group=x"), (Some("group".into()), "group: must be a whole number".into()));
        assert_eq!(field_of("colour=green"), (Some("colour".into()), "colour: one of red, dark_blue".into()));
        let (field, message) = field_of("groop=1");
        assert_eq!(field.as_deref(), Some("groop"));
        assert!(message.contains("not a parameter of this list") && message.contains("group"), "{message}");
        assert_eq!(field_of("limit=0&x=1").0.as_deref(), Some("limit"));
    }

    #[test]
    fn pages_keep_their_limits() {
        assert_eq!(parse::<Page>("before=9&limit=200").unwrap().limit_or(50), 200);
        assert_eq!(parse::<Page>("").unwrap().limit_or(50), 50);
        assert!(parse::<Page>("limit=201").is_err());
        assert_eq!(parse::<NoFilters>("page=2").err().and_then(|err| err.field).as_deref(), Some("page"));
    }
}
