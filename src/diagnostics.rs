//! Turning foreign errors into the one-line messages softtext's error types carry. A leaf
//! module: the module error types use it, and it uses none of them.

/// candle appends a multi-line backtrace to its errors when `RUST_BACKTRACE` is set; a user
/// needs the message, on one line.
pub fn without_backtrace(e: candle_core::Error) -> candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(*inner),
        candle_core::Error::WithPath { inner, path } => candle_core::Error::WithPath {
            inner: Box::new(without_backtrace(*inner)),
            path,
        },
        candle_core::Error::Context { inner, context } => {
            candle_core::Error::Msg(format!("{context}: {}", without_backtrace(*inner)))
        }
        other => other,
    }
}

/// A TOML error as one line: `line L, column C: MESSAGE`. The parser's own rendering spans
/// several lines (a caret under the source), which a one-line error cannot carry.
pub fn toml_error_line(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Section {
        name: String,
        size: usize,
    }

    fn error_for(text: &str) -> String {
        let e = toml::from_str::<Section>(text).unwrap_err();
        toml_error_line(text, &e)
    }

    #[test]
    fn points_at_line_and_column_in_characters() {
        // "é" is two bytes; the column counts characters, as editors do.
        assert_eq!(
            error_for("name = \"café\"\nsize = \"big\"\n"),
            "line 2, column 8: invalid type: string \"big\", expected usize"
        );
        assert_eq!(
            error_for("name = \"é\" ; size = 1\n"),
            "line 1, column 12: unexpected key or value, expected newline, `#`"
        );
        assert!(!error_for("name = [\n").contains('\n'));
    }

    #[test]
    fn backtraces_and_contexts_become_one_line() {
        let inner = candle_core::Error::Msg("shape mismatch".into());
        let wrapped = candle_core::Error::Context {
            inner: Box::new(candle_core::Error::WithBacktrace {
                inner: Box::new(inner),
                backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
            }),
            context: Box::new("loading weights"),
        };
        let text = without_backtrace(wrapped).to_string();
        assert_eq!(text, "loading weights: shape mismatch");
    }
}
