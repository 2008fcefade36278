//! The client address a trusted proxy states: RFC 7239 `Forwarded` (`for=`) or
//! `X-Forwarded-For`, read right to left, stopping at the first address that is not one of
//! the trusted proxies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The `for=` nodes of a `Forwarded` value, in order; `None` for a node that names no address
/// (`unknown`, an obfuscated `_name`, a missing `for=`, an unparsable node). `None` overall when
/// the value does not follow RFC 7239's grammar.
pub(super) fn forwarded_for(value: &[u8]) -> Option<Vec<Option<IpAddr>>> {
    let mut nodes = Vec::new();
    let mut node: Option<IpAddr> = None;
    let mut i = 0usize;
    loop {
        skip_ows(value, &mut i);
        // token "=" ( token / quoted-string )
        let start = i;
        while value.get(i).is_some_and(|b| is_tchar(*b)) {
            i = i.saturating_add(1);
        }
        let key = value.get(start..i)?;
        if key.is_empty() || value.get(i) != Some(&b'=') {
            return None;
        }
        i = i.saturating_add(1);
        let text = if value.get(i) == Some(&b'"') {
            i = i.saturating_add(1);
            let mut text = Vec::new();
            loop {
                match value.get(i)? {
                    b'"' => {
                        i = i.saturating_add(1);
                        break;
                    }
                    b'\\' => {
                        text.push(*value.get(i.saturating_add(1))?);
                        i = i.saturating_add(2);
                    }
                    b => {
                        text.push(*b);
                        i = i.saturating_add(1);
                    }
                }
            }
            text
        } else {
            let start = i;
            while value
                .get(i)
                .is_some_and(|b| is_tchar(*b) || *b == b':' || *b == b'[' || *b == b']')
            {
                i = i.saturating_add(1);
            }
            value.get(start..i)?.to_vec()
        };
        if key.eq_ignore_ascii_case(b"for") {
            node = parse_node(&text);
        }
        skip_ows(value, &mut i);
        match value.get(i) {
            Some(b';') => i = i.saturating_add(1),
            Some(b',') => {
                nodes.push(node.take());
                i = i.saturating_add(1);
            }
            None => {
                nodes.push(node);
                return Some(nodes);
            }
            Some(_) => return None,
        }
    }
}

/// The entries of an `X-Forwarded-For` value, in order (`None` for one that is no address).
pub(super) fn x_forwarded_for(value: &[u8]) -> Vec<Option<IpAddr>> {
    value
        .split(|b| *b == b',')
        .map(|entry| parse_node(entry.trim_ascii()))
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]`, `[::1]:80`.
fn parse_node(text: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(text).ok()?;
    if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    let (v4, port) = text.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

fn skip_ows(value: &[u8], i: &mut usize) {
    while value.get(*i).is_some_and(|b| *b == b' ' || *b == b'\t') {
        *i = i.saturating_add(1);
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarded_nodes() {
        assert_eq!(
            forwarded_for(br#"for="[2001:db8:cafe::17]:4711";proto=https, for=192.0.2.60;by=203.0.113.43, for=unknown, for=_hidden, by=x"#),
            Some(vec![ip("2001:db8:cafe::17"), ip("192.0.2.60"), None, None, None])
        );
        assert_eq!(
            forwarded_for(b"For=\"192.0.2.1:80\""),
            Some(vec![ip("192.0.2.1")])
        );
        assert_eq!(forwarded_for(b"for=192.0.2.1 x"), None);
        assert_eq!(forwarded_for(b"for=\"192.0.2.1"), None);
        assert_eq!(forwarded_for(b"for"), None);
        assert_eq!(forwarded_for(b""), None);
    }

    #[test]
    fn xff_entries() {
        assert_eq!(
            x_forwarded_for(b"203.0.113.7, 2001:db8::1,[2001:db8::2]:443, 10.0.0.1:8080, nope"),
            vec![
                ip("203.0.113.7"),
                ip("2001:db8::1"),
                ip("2001:db8::2"),
                ip("10.0.0.1"),
                None
            ]
        );
        assert_eq!(x_forwarded_for(b"1.2.3.4:99999x"), vec![None]);
    }
}
