//! `-c FILE`: options as `long-option-name = value` lines; `#` starts a comment; the
//! value may be enclosed in double quotes.

use super::UsageError;

/// Reads a configuration file into (option, value) pairs, in file order.
pub fn read_config(path: &str) -> Result<Vec<(String, String)>, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::new(format!("configuration file {path}: {e}")))?;
    parse_config(&text).map_err(|e| UsageError::new(format!("configuration file {path}: {e}")))
}

/// Parses configuration text; an error names the line.
pub fn parse_config(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut options = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(format!("line {}: expected 'name = value'", number + 1));
        };
        let key = key.trim();
        let mut value = value.trim();
        if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            value = &value[1..value.len() - 1];
        } else if let Some(hash) = value.find(" #") {
            // A comment after an unquoted value.
            value = value[..hash].trim_end();
        }
        if key.is_empty() {
            return Err(format!("line {}: missing option name", number + 1));
        }
        options.push((key.to_string(), value.to_string()));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_and_quotes() {
        let text =
            "# a comment\nlog-format = \"%source.ip %dest.ip\"\n\nnot-found = N/A # why\nraw=1\n";
        let got = parse_config(text).unwrap();
        assert_eq!(
            got,
            vec![
                ("log-format".to_string(), "%source.ip %dest.ip".to_string()),
                ("not-found".to_string(), "N/A".to_string()),
                ("raw".to_string(), "1".to_string()),
            ]
        );
    }

    #[test]
    fn a_line_without_equals_is_an_error_naming_the_line() {
        assert_eq!(
            parse_config("x = 1\nbogus\n").unwrap_err(),
            "line 2: expected 'name = value'"
        );
    }
}
