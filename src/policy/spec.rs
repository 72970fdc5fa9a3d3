//! OpenAPI 3.0/3.1 documents pushed with the configuration (the document's `specs`): the
//! operations `validate` and `mock` policies refer to, by `operationId`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::mock::Mock;
use super::pointer::child;
use super::schema::Schema;
use super::validate::{BodyRule, Param, Validation};
use crate::reader::{is_valid_name, key_path, Errors, NAME_RULE};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Reads `specs`: name → OpenAPI document.
pub fn parse_specs(value: &Value, path: &str, errors: &mut Errors) -> BTreeMap<String, Value> {
    let mut specs = BTreeMap::new();
    let Some(map) = value.as_object() else {
        errors.push(
            path,
            "expected an object mapping names to OpenAPI documents",
        );
        return specs;
    };
    for (name, spec) in map {
        let at = key_path(path, name);
        if !is_valid_name(name) {
            errors.push(&at, NAME_RULE);
            continue;
        }
        let version = spec.get("openapi").and_then(Value::as_str).unwrap_or("");
        if !version.starts_with("3.") {
            errors.push(
                &key_path(&at, "openapi"),
                "must be an OpenAPI 3.0 or 3.1 document ('openapi': '3.x')",
            );
            continue;
        }
        if !spec.get("paths").is_some_and(Value::is_object) {
            errors.push(&key_path(&at, "paths"), "is required (an object)");
            continue;
        }
        specs.insert(name.clone(), spec.clone());
    }
    specs
}

/// An operation of a spec: its pointer in the document, and its path item's pointer.
pub struct Operation<'s> {
    pub spec: &'s Value,
    pub pointer: String,
    pub item_pointer: String,
    pub value: &'s Value,
}

/// Every operation of `spec`: (path template, upper-case method, operation).
pub fn operations(spec: &Value) -> Vec<(String, String, Operation<'_>)> {
    let mut out = Vec::new();
    let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (template, item) in paths {
        let item_pointer = child("/paths", template);
        for method in METHODS {
            if let Some(value) = item.get(method).filter(|v| v.is_object()) {
                out.push((
                    template.clone(),
                    method.to_ascii_uppercase(),
                    Operation {
                        spec,
                        pointer: child(&item_pointer, method),
                        item_pointer: item_pointer.clone(),
                        value,
                    },
                ));
            }
        }
    }
    out
}

/// The operation with `operation_id`.
pub fn find<'s>(spec: &'s Value, operation_id: &str) -> Option<Operation<'s>> {
    operations(spec)
        .into_iter()
        .map(|(_, _, op)| op)
        .find(|op| op.value.get("operationId").and_then(Value::as_str) == Some(operation_id))
}

/// A `#/...` reference's target, or the value itself.
fn resolved<'s>(spec: &'s Value, value: &'s Value, pointer: String) -> (&'s Value, String) {
    match value
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
    {
        Some(target) => match super::pointer::Pointer::parse(target)
            .ok()
            .and_then(|p| p.get(spec))
        {
            Some(found) => (found, target.to_string()),
            None => (value, pointer),
        },
        None => (value, pointer),
    }
}

impl Operation<'_> {
    /// What the operation declares: parameters (the path item's, overridden by the
    /// operation's) and its JSON request body.
    pub fn validation(
        &self,
        path: &str,
        max_body_bytes: u64,
        errors: &mut Errors,
    ) -> Option<Validation> {
        let mut validation = Validation {
            max_body_bytes,
            ..Validation::default()
        };
        let mut declared: Vec<(String, String, &Value, String)> = Vec::new();
        for base in [&self.item_pointer, &self.pointer] {
            let list = super::pointer::Pointer::parse(base)
                .ok()
                .and_then(|p| p.get(self.spec));
            let Some(items) = list
                .and_then(|l| l.get("parameters"))
                .and_then(Value::as_array)
            else {
                continue;
            };
            for (i, item) in items.iter().enumerate() {
                let (param, at) = resolved(self.spec, item, format!("{base}/parameters/{i}"));
                let name = param
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let place = param
                    .get("in")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                declared.retain(|(n, p, _, _)| !(n == &name && p == &place));
                declared.push((name, place, param, at));
            }
        }
        let mut ok = true;
        for (name, place, param, at) in declared {
            let schema = if param.get("schema").is_some() {
                Schema::compile(
                    self.spec,
                    &format!("{at}/schema"),
                    &format!("{path}(#{at}/schema)"),
                    errors,
                )
            } else {
                Some(Schema::any())
            };
            let Some(schema) = schema else {
                ok = false;
                continue;
            };
            let required =
                place == "path" || param.get("required").and_then(Value::as_bool) == Some(true);
            let entry = Param {
                name: if place == "header" {
                    name.to_ascii_lowercase()
                } else {
                    name
                },
                required,
                schema,
            };
            match place.as_str() {
                "path" => validation.params.push(entry),
                "query" => validation.query.push(entry),
                "header" => validation.headers.push(entry),
                _ => {}
            }
        }
        if let Some(body) = self.value.get("requestBody") {
            let (body, at) = resolved(self.spec, body, format!("{}/requestBody", self.pointer));
            let content = body.get("content").and_then(Value::as_object);
            let json = content.and_then(|c| c.iter().find(|(media, _)| is_json(media)));
            if let Some((media, media_value)) = json {
                let schema_at = format!(
                    "{at}/content/{}/schema",
                    media.replace('~', "~0").replace('/', "~1")
                );
                let schema = if media_value.get("schema").is_some() {
                    Schema::compile(
                        self.spec,
                        &schema_at,
                        &format!("{path}(#{schema_at})"),
                        errors,
                    )
                } else {
                    Some(Schema::any())
                };
                match schema {
                    Some(schema) => {
                        validation.body = Some(BodyRule {
                            schema,
                            required: body.get("required").and_then(Value::as_bool) == Some(true),
                        })
                    }
                    None => ok = false,
                }
            }
        }
        ok.then_some(validation)
    }

    /// The operation's example answer: `status` (or its first 2xx response), JSON example.
    pub fn example(&self, status: Option<u16>, name: Option<&str>) -> Result<Mock, String> {
        let responses = self
            .value
            .get("responses")
            .and_then(Value::as_object)
            .ok_or("has no responses")?;
        let (code, response) = responses
            .iter()
            .find(|(code, _)| match status {
                Some(s) => code.as_str() == s.to_string(),
                None => code.starts_with('2'),
            })
            .ok_or("declares no such response")?;
        let (response, _) = resolved(self.spec, response, String::new());
        let status: u16 = code
            .parse()
            .map_err(|_| format!("response '{code}' has no numeric status"))?;
        let media = response.get("content").and_then(Value::as_object);
        let Some((media_type, media)) = media.and_then(|m| {
            m.iter()
                .find(|(t, _)| is_json(t))
                .or_else(|| m.iter().next())
        }) else {
            return Ok(Mock {
                status,
                headers: Vec::new(),
                body: Vec::new(),
            });
        };
        let examples = media.get("examples").and_then(Value::as_object);
        let chosen = match name {
            Some(name) => examples
                .and_then(|e| e.get(name))
                .ok_or(format!("has no example '{name}'"))?
                .get("value"),
            None => media
                .get("example")
                .or_else(|| {
                    examples
                        .and_then(|e| e.values().next())
                        .and_then(|e| e.get("value"))
                })
                .or_else(|| {
                    media
                        .get("schema")
                        .and_then(|s| resolved(self.spec, s, String::new()).0.get("example"))
                }),
        };
        let body = match chosen {
            Some(Value::String(text)) if !is_json(media_type) => text.clone().into_bytes(),
            Some(value) => value.to_string().into_bytes(),
            None => return Err(format!("response {status} has no example")),
        };
        Ok(Mock {
            status,
            headers: vec![("content-type".into(), media_type.clone())],
            body,
        })
    }
}

fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pets() -> Value {
        json!({
            "openapi": "3.1.0",
            "paths": {"/pets/{id}": {
                "parameters": [{"name": "id", "in": "path", "schema": {"type": "integer"}}],
                "put": {
                    "operationId": "updatePet",
                    "parameters": [{"$ref": "#/components/parameters/Dry"}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"example": {"id": 1, "name": "Rex"}}}}}
                }
            }},
            "components": {
                "parameters": {"Dry": {"name": "dry_run", "in": "query", "required": true, "schema": {"type": "boolean"}}},
                "schemas": {"Pet": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}
            }
        })
    }

    #[test]
    fn operations_give_their_validation_and_examples() {
        let spec = pets();
        let op = find(&spec, "updatePet").unwrap();
        let mut errors = Errors::default();
        let validation = op.validation("$.r", 1024, &mut errors).unwrap();
        assert!(errors.is_empty());
        assert_eq!(validation.params[0].name, "id");
        assert_eq!(validation.query[0].name, "dry_run");
        assert!(validation.query[0].required);
        assert!(validation.body.as_ref().unwrap().required);
        let mock = op.example(None, None).unwrap();
        assert_eq!(
            (mock.status, mock.body),
            (200, br#"{"id":1,"name":"Rex"}"#.to_vec())
        );
        assert!(op.example(Some(404), None).is_err());
        assert!(find(&spec, "nope").is_none());
    }
}
