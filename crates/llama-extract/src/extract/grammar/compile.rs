//! Compiling the schema: every `$ref`, object, array, enum and bound becomes a [`Shape`], with
//! the narrowing's utterances and limits applied.

use serde_json::Value;

use super::*;

impl Grammar {
    /// Compiles a JSON Schema (draft 2020-12 as schemars writes it) under `narrowing`.
    pub fn from_schema(schema: &Value, narrowing: &Narrowing) -> Result<Self, LlamaError> {
        if narrowing.utterances.is_empty() {
            return Err(schema_err("no utterances to cite"));
        }
        let mut g = Grammar { shapes: Vec::new(), root: 0, utterances: narrowing.utterances.clone() };
        g.root = g.compile(schema, schema, narrowing, Marks::default(), 0)?;
        Ok(g)
    }

    fn push(&mut self, s: Shape) -> ShapeId {
        self.shapes.push(s);
        self.shapes.len() - 1
    }

    fn compile(
        &mut self,
        root: &Value,
        node: &Value,
        n: &Narrowing,
        inherited: Marks,
        depth: usize,
    ) -> Result<ShapeId, LlamaError> {
        if depth > 32 {
            return Err(schema_err("nested too deeply (recursive $ref?)"));
        }
        let marked = |key: &str| node.get(key) == Some(&Value::Bool(true));
        let marks = Marks {
            participant_only: inherited.participant_only || marked("x-participant-only"),
            prose: inherited.prose || marked("x-prose"),
        };
        let participant_only = marks.participant_only;
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let target = r
                .strip_prefix("#/$defs/")
                .or_else(|| r.strip_prefix("#/definitions/"))
                .ok_or_else(|| schema_err(format!("unsupported $ref {r}")))?;
            let def = root
                .get("$defs")
                .or_else(|| root.get("definitions"))
                .and_then(|d| d.get(target))
                .ok_or_else(|| schema_err(format!("missing definition {target}")))?;
            return self.compile(root, def, n, marks, depth + 1);
        }
        if let Some(values) = enum_values(node)? {
            return Ok(self.push(Shape::Enum(values)));
        }
        let ty = node.get("type").and_then(Value::as_str).ok_or_else(|| schema_err("node without a type"))?;
        let max_usize =
            |key: &str, default: usize| node.get(key).and_then(Value::as_u64).map_or(default, |v| v as usize);
        Ok(match ty {
            "object" => self.compile_object(root, node, n, marks, depth)?,
            "array" => {
                let items = node.get("items").ok_or_else(|| schema_err("array without items"))?;
                let item = self.compile(root, items, n, marks, depth + 1)?;
                let mut max_items = max_usize("maxItems", n.default_max_items);
                if participant_only && self.citable(n, true).is_empty() {
                    max_items = 0; // nothing the participant said can be cited here
                }
                let min_items = max_usize("minItems", 0).min(max_items);
                self.push(Shape::Array { item, min_items, max_items })
            }
            "string" => {
                let max_chars = max_usize("maxLength", n.default_max_chars);
                if marked(VERBATIM_QUOTE) && n.quotes_verbatim {
                    self.push(Shape::Quote { max_chars, names_index: None })
                } else {
                    let min_chars = max_usize("minLength", 0).min(max_chars);
                    self.push(Shape::String { min_chars, max_chars, prose: marks.prose })
                }
            }
            "integer" => {
                let set = self.integer_set(node, n, marked(UTTERANCE_INDEX), participant_only)?;
                self.push(Shape::Integer(set))
            }
            "number" => {
                let lo = node.get("minimum").and_then(Value::as_f64);
                let hi = node.get("maximum").and_then(Value::as_f64);
                match (lo, hi) {
                    (Some(min), Some(max)) if (0.0..1.0).contains(&min) && max == 1.0 => {
                        self.push(Shape::UnitInterval { min })
                    }
                    _ => return Err(schema_err("only numbers in [min, 1] with 0 <= min < 1 are supported")),
                }
            }
            other => return Err(schema_err(format!("unsupported type {other}"))),
        })
    }

    /// An object: every `required` property, in that order, each introduced by its key.
    fn compile_object(
        &mut self,
        root: &Value,
        node: &Value,
        n: &Narrowing,
        marks: Marks,
        depth: usize,
    ) -> Result<ShapeId, LlamaError> {
        let props = node.get("properties").and_then(Value::as_object);
        let required = node.get("required").and_then(Value::as_array);
        let mut fields = Vec::new();
        let mut is_index = Vec::new();
        if let (Some(props), Some(required)) = (props, required) {
            for key in required.iter().filter_map(Value::as_str) {
                let p = props.get(key).ok_or_else(|| schema_err(format!("required {key} has no schema")))?;
                if key.contains(['"', '\\']) {
                    return Err(schema_err(format!("property name {key}")));
                }
                fields.push((key.to_string(), self.compile(root, p, n, marks, depth + 1)?));
                is_index.push(p.get(UTTERANCE_INDEX) == Some(&Value::Bool(true)));
            }
        }
        // A verbatim quote right before its utterance index is written first (see the module
        // docs): it takes its candidate utterances from that index.
        for (i, pair) in fields.windows(2).enumerate() {
            let (quote, index) = (pair[0].1, pair[1].1);
            let index_follows = is_index[i + 1] && matches!(self.shapes[index], Shape::Integer(_));
            if let (true, Shape::Quote { names_index, .. }) = (index_follows, &mut self.shapes[quote]) {
                *names_index = Some(index);
            }
        }
        let intros = fields
            .iter()
            .enumerate()
            .map(|(i, (key, _))| format!("{}\"{key}\":", if i == 0 { "{" } else { "," }))
            .collect();
        Ok(self.push(Shape::Object(fields, intros)))
    }

    /// The values an integer may take: the citable utterances for an `x-utterance-index`,
    /// else its `[minimum, maximum]` (small ranges only).
    fn integer_set(
        &self,
        node: &Value,
        n: &Narrowing,
        utterance_index: bool,
        participant_only: bool,
    ) -> Result<Vec<u64>, LlamaError> {
        let set: Vec<u64> = if utterance_index {
            let set = self.citable(n, participant_only);
            // A participant-only index with nothing to cite sits in an array kept empty.
            if set.is_empty() && !participant_only {
                return Err(schema_err("no utterance has a word to cite"));
            }
            set
        } else {
            let lo = node.get("minimum").and_then(Value::as_u64).unwrap_or(0);
            let hi =
                node.get("maximum").and_then(Value::as_u64).ok_or_else(|| schema_err("integer without maximum"))?;
            if hi.saturating_sub(lo) > 10_000 {
                return Err(schema_err("integer range too wide to enumerate"));
            }
            (lo..=hi).collect()
        };
        Ok(set)
    }

    /// The indices an `utterance_index` may take: utterances with a word to quote when quotes
    /// are verbatim (admitting another would lead to a dead end), and only the participant's
    /// when `participant_only` and speakers are known.
    fn citable(&self, n: &Narrowing, participant_only: bool) -> Vec<u64> {
        n.utterances
            .iter()
            .filter(|(_, text)| !n.quotes_verbatim || is_citable(text))
            .filter(|(i, _)| !participant_only || n.participant.as_ref().is_none_or(|p| p.contains(i)))
            .map(|(i, _)| *i)
            .collect()
    }
}

/// A string enum (`enum`, or schemars' `oneOf` of `const`s), if `node` is one.
fn enum_values(node: &Value) -> Result<Option<Vec<String>>, LlamaError> {
    if let Some(options) = node.get("enum").and_then(Value::as_array) {
        let values: Option<Vec<String>> = options.iter().map(|v| v.as_str().map(str::to_string)).collect();
        let values = values.ok_or_else(|| schema_err("only string enums are supported"))?;
        if values.is_empty() || values.iter().any(|v| v.contains(['"', '\\'])) {
            return Err(schema_err("enum values must be non-empty plain strings"));
        }
        return Ok(Some(values));
    }
    if let Some(options) = node.get("oneOf").and_then(Value::as_array) {
        // schemars writes documented enum variants as oneOf of {const}.
        let values: Option<Vec<String>> =
            options.iter().map(|v| v.get("const").and_then(Value::as_str).map(str::to_string)).collect();
        let values = values.ok_or_else(|| schema_err("oneOf is only supported for string constants"))?;
        return Ok(Some(values));
    }
    Ok(None)
}
