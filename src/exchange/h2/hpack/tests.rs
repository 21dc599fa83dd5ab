use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Decodes a block into (name, value) strings, unknown fields as `?`.
fn decode(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, HpackError> {
    let mut out = Vec::new();
    d.decode(block, &mut |f| {
        out.push(match f {
            Field::Header { name, value } => (
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            ),
            Field::Unknown { value } => (
                "?".to_string(),
                value.map_or("?".to_string(), |v| String::from_utf8_lossy(v).into_owned()),
            ),
        })
    })?;
    Ok(out)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|&(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn rfc7541_c2_1_literal_with_indexing() {
    let mut d = Decoder::new();
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        pairs(&[("custom-key", "custom-header")])
    );
    assert_eq!(d.table_size(), 55);
    assert_eq!(
        d.table_entry(0),
        Some((Some(&b"custom-key"[..]), &b"custom-header"[..]))
    );
}
