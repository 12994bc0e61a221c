//! Request bodies decoded the way Portainer's Go decoder does (dialects.md §1.4): a key matches a
//! field exactly or, failing that, case-insensitively; unknown keys are ignored; `null` or a
//! missing key leaves the zero value; a value of the wrong JSON type is a 400.

use serde_json::{Map, Value};

use super::error::PortainerError;

/// A JSON object read with Portainer's rules.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Payload<'a> {
    object: &'a Map<String, Value>,
    /// The Go type name, for error details (e.g. `users.userCreatePayload`).
    go_type: &'static str,
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<'a> Payload<'a> {
    /// The body must be a JSON object.
    pub(crate) fn object(value: &'a Value, go_type: &'static str) -> Result<Self, PortainerError> {
        match value {
            Value::Object(object) => Ok(Self { object, go_type }),
            Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::String(_)
            | Value::Array(_) => Err(PortainerError::invalid_payload(&format!(
                "json: cannot unmarshal {} into Go value of type {}",
                json_kind(value),
                go_type
            ))),
        }
    }

    /// The value of `name`: exact key first, then any key equal ignoring case; `null` is absent.
    fn get(&self, name: &str) -> Option<&'a Value> {
        let found = self.object.get(name).or_else(|| {
            self.object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        });
        found.filter(|v| !v.is_null())
    }

    fn type_error(&self, name: &str, value: &Value, go_type: &str) -> PortainerError {
        PortainerError::invalid_payload(&format!(
            "json: cannot unmarshal {} into Go struct field {}.{name} of type {go_type}",
            json_kind(value),
            self.go_type
        ))
    }

    /// A string field; `""` when absent.
    pub(crate) fn string(&self, name: &str) -> Result<String, PortainerError> {
        Ok(self.opt_string(name)?.unwrap_or_default())
    }

    /// A string field that may be absent.
    pub(crate) fn opt_string(&self, name: &str) -> Result<Option<String>, PortainerError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.type_error(name, other, "string")),
        }
    }

    /// An integer field; `0` when absent. Fractions and strings are refused, as Go does for `int`.
    pub(crate) fn int(&self, name: &str) -> Result<i64, PortainerError> {
        match self.get(name) {
            None => Ok(0),
            Some(v @ Value::Number(n)) => n.as_i64().ok_or_else(|| self.type_error(name, v, "int")),
            Some(other) => Err(self.type_error(name, other, "int")),
        }
    }

    /// A boolean field that may be absent (Go `*bool`).
    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, PortainerError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.type_error(name, other, "bool")),
        }
    }

    /// A nested object that may be absent (Go pointer to struct).
    pub(crate) fn opt_object(
        &self,
        name: &str,
        go_type: &'static str,
    ) -> Result<Option<Payload<'a>>, PortainerError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(Payload { object, go_type })),
            Some(other) => Err(self.type_error(name, other, go_type)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_match_exactly_or_ignoring_case() -> Result<(), PortainerError> {
        let v = json!({"Username": "Bob", "PASSWORD": "pw", "role": 2, "useCache": false, "theme": {"Color": "dark"}});
        let p = Payload::object(&v, "t")?;
        assert_eq!(p.string("username")?, "Bob");
        assert_eq!(p.string("password")?, "pw");
        assert_eq!(p.int("Role")?, 2);
        assert_eq!(p.opt_bool("usecache")?, Some(false));
        let theme = p.opt_object("theme", "t2")?;
        assert_eq!(
            theme.map(|t| t.opt_string("color")).transpose()?,
            Some(Some("dark".to_owned()))
        );
        Ok(())
    }

    #[test]
    fn exact_match_is_preferred() -> Result<(), PortainerError> {
        let v = json!({"USERNAME": "upper", "username": "exact"});
        assert_eq!(Payload::object(&v, "t")?.string("username")?, "exact");
        Ok(())
    }

    #[test]
    fn missing_and_null_are_zero_values() -> Result<(), PortainerError> {
        let v = json!({"username": null, "unknown": 1});
        let p = Payload::object(&v, "t")?;
        assert_eq!(p.string("username")?, "");
        assert_eq!(p.int("role")?, 0);
        assert_eq!(p.opt_bool("useCache")?, None);
        Ok(())
    }

    #[test]
    fn wrong_types_are_400() {
        let v = json!({"username": 5, "role": "1", "frac": 1.5, "useCache": "yes"});
        let Ok(p) = Payload::object(&v, "users.userCreatePayload") else {
            panic!("object")
        };
        for e in [
            p.string("username").err(),
            p.int("role").err(),
            p.int("frac").err(),
            p.opt_bool("useCache").err(),
        ] {
            let e = e.map(|e| (e.status().as_u16(), e.message().to_owned()));
            assert_eq!(e, Some((400, "Invalid request payload".to_owned())));
        }
        let arr = json!([1]);
        assert!(Payload::object(&arr, "t").is_err());
    }
}
