//! Renders our Helm charts without Helm, so the plain manifests can be
//! checked against them in any environment (Helm is not installed here).
//!
//! Only the subset of the template language the charts use is understood —
//! `{{ .Values.a.b }}`, `{{ .Release.Name }}`, `{{ .Release.Namespace }}`,
//! `{{ .Chart.Name }}`, `{{ .Chart.Version }}`, `{{ .Chart.AppVersion }}`,
//! each optionally piped into `quote` — and anything else is an error, so a
//! chart that grows beyond it fails the test instead of drifting silently.

use std::path::Path;

use serde_json::Value;

use crate::TestkitError;

/// Release name and namespace, as `helm template NAME --namespace NS` gets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    pub namespace: String,
}

/// Renders every `templates/*.yaml` of the chart at `chart_dir` with its
/// `values.yaml`; returns `(file name, rendered text)` sorted by file name.
pub fn render_chart(
    chart_dir: &Path,
    release: &Release,
) -> Result<Vec<(String, String)>, TestkitError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| TestkitError::Io {
            path: path.to_owned(),
            source,
        })
    };
    let yaml = |path: &Path| -> Result<Value, TestkitError> {
        serde_yaml_ng::from_str(&read(path)?)
            .map_err(|e| TestkitError::Protocol(format!("{}: {e}", path.display())))
    };
    let chart = yaml(&chart_dir.join("Chart.yaml"))?;
    let values = yaml(&chart_dir.join("values.yaml"))?;
    let templates = chart_dir.join("templates");
    let entries = std::fs::read_dir(&templates).map_err(|source| TestkitError::Io {
        path: templates.clone(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| TestkitError::Io {
                path: templates.clone(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = render_template(&read(&path)?, &chart, &values, release)
                .map_err(|e| TestkitError::Protocol(format!("{name}: {e}")))?;
            files.push((name, text));
        }
    }
    files.sort();
    Ok(files)
}

/// Renders one template text.
pub fn render_template(
    template: &str,
    chart: &Value,
    values: &Value,
    release: &Release,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| "unclosed {{".to_owned())?;
        out.push_str(&evaluate(after[..end].trim(), chart, values, release)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn evaluate(
    expression: &str,
    chart: &Value,
    values: &Value,
    release: &Release,
) -> Result<String, String> {
    let mut stages = expression.split('|').map(str::trim);
    let source = stages.next().unwrap_or_default();
    let value = match source {
        ".Release.Name" => release.name.clone(),
        ".Release.Namespace" => release.namespace.clone(),
        ".Chart.Name" => scalar(&chart["name"], source)?,
        ".Chart.Version" => scalar(&chart["version"], source)?,
        ".Chart.AppVersion" => scalar(&chart["appVersion"], source)?,
        _ => match source.strip_prefix(".Values.") {
            Some(path) => scalar(
                path.split('.').fold(values, |value, key| &value[key]),
                source,
            )?,
            None => {
                return Err(format!(
                    "unsupported template expression {{{{ {expression} }}}}"
                ));
            }
        },
    };
    stages.try_fold(value, |value, function| match function {
        "quote" => Ok(quote(&value)),
        other => Err(format!("unsupported template function {other:?}")),
    })
}

fn scalar(value: &Value, what: &str) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("{what} is not a scalar value")),
    }
}

/// Go's `%q` for the strings charts hold (Helm's `quote`).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
