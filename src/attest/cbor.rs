//! A bounded CBOR (RFC 8949) reader: just the subset App Attest objects use.
//!
//! Accepted: unsigned and negative integers, byte and text strings, arrays and maps, all with
//! definite lengths in the shortest form (RFC 8949 §4.2.1, "preferred serialization"). Refused:
//! indefinite lengths, tags, floats and simple values, duplicate map keys, nesting deeper than
//! [`MAX_DEPTH`], inputs larger than [`MAX_INPUT`].
//!
//! Every declared length or element count is checked against the bytes that remain *before*
//! anything is sliced or allocated (an element takes at least one byte), so a hostile header
//! ("a 2^64-byte string", "a 2^32-entry map") costs nothing.

/// The largest object read, in bytes. App Attest attestation objects are about 5.5 KiB
/// (two certificates and a receipt); assertions about 100 bytes.
pub(crate) const MAX_INPUT: usize = 64 * 1024;

/// The deepest nesting of arrays and maps. An attestation object nests three levels
/// (map → attStmt map → x5c array); a COSE key one.
pub(crate) const MAX_DEPTH: usize = 8;

/// One decoded data item, borrowing strings from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// An array, in order.
    Array(Vec<Value<'a>>),
    /// A byte string.
    Bytes(&'a [u8]),
    /// An integer (major type 0 or 1), in the range −2^64 ..= 2^64 − 1.
    Integer(i128),
    /// A map, in encoded order, without duplicate keys.
    Map(Vec<(Value<'a>, Value<'a>)>),
    /// A UTF-8 text string.
    Text(&'a str),
}

/// Why the input is not the CBOR this reader accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadCbor(pub(crate) &'static str);

impl<'a> Value<'a> {
    /// The byte string, if this is one.
    pub(crate) fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Self::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text string, if this is one.
    pub(crate) fn as_text(&self) -> Option<&'a str> {
        match self {
            Self::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub(crate) fn as_integer(&self) -> Option<i128> {
        match self {
            Self::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The array's items, if this is an array.
    pub(crate) fn as_array(&self) -> Option<&[Value<'a>]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The map's entries, if this is a map.
    pub(crate) fn as_map(&self) -> Option<&[(Value<'a>, Value<'a>)]> {
        match self {
            Self::Map(entries) => Some(entries),
            _ => None,
        }
    }
}

/// The value of `key` in a map's entries.
pub(crate) fn get<'m, 'a>(
    entries: &'m [(Value<'a>, Value<'a>)],
    key: &Value<'_>,
) -> Option<&'m Value<'a>> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Decodes `input` as exactly one data item.
pub(crate) fn decode(input: &[u8]) -> Result<Value<'_>, BadCbor> {
    let (value, rest) = decode_prefix(input)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(BadCbor("trailing bytes after the CBOR item"))
    }
}

/// Decodes the first data item of `input`, returning it and the bytes after it.
pub(crate) fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, &[u8]), BadCbor> {
    if input.len() > MAX_INPUT {
        return Err(BadCbor("CBOR input larger than 64 KiB"));
    }
    let mut reader = Reader { input };
    let value = reader.item(0)?;
    Ok((value, reader.input))
}

struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BadCbor> {
        let (head, rest) = self
            .input
            .split_at_checked(n)
            .ok_or(BadCbor("length beyond the end of the input"))?;
        self.input = rest;
        Ok(head)
    }

    /// The initial byte's major type and argument (RFC 8949 §3), shortest form only.
    fn head(&mut self) -> Result<(u8, u64), BadCbor> {
        let (&initial, rest) = self.input.split_first().ok_or(BadCbor("truncated CBOR"))?;
        self.input = rest;
        let major = initial >> 5;
        let info = initial & 0x1f;
        let (argument, minimum) = match info {
            0..=23 => return Ok((major, u64::from(info))),
            24 => (self.uint(1)?, 24),
            25 => (self.uint(2)?, 0x100),
            26 => (self.uint(4)?, 0x1_0000),
            27 => (self.uint(8)?, 0x1_0000_0000),
            31 => return Err(BadCbor("indefinite length")),
            _ => return Err(BadCbor("reserved additional information")),
        };
        if argument < minimum {
            return Err(BadCbor("argument not in its shortest form"));
        }
        Ok((major, argument))
    }

    fn uint(&mut self, bytes: usize) -> Result<u64, BadCbor> {
        Ok(self
            .take(bytes)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A declared length or count, checked against what remains: each byte of a string takes
    /// one input byte, each array item or map key/value at least one.
    fn length(&self, argument: u64, per_item: usize) -> Result<usize, BadCbor> {
        let len = usize::try_from(argument).map_err(|_| BadCbor("length too large"))?;
        let needed = len
            .checked_mul(per_item)
            .ok_or(BadCbor("length too large"))?;
        if needed > self.input.len() {
            return Err(BadCbor("length beyond the end of the input"));
        }
        Ok(len)
    }

    fn item(&mut self, depth: usize) -> Result<Value<'a>, BadCbor> {
        let (major, argument) = self.head()?;
        match major {
            0 => Ok(Value::Integer(i128::from(argument))),
            1 => Ok(Value::Integer(-1 - i128::from(argument))),
            2 => {
                let len = self.length(argument, 1)?;
                self.take(len).map(Value::Bytes)
            }
            3 => {
                let len = self.length(argument, 1)?;
                let bytes = self.take(len)?;
                std::str::from_utf8(bytes)
                    .map(Value::Text)
                    .map_err(|_| BadCbor("text string is not UTF-8"))
            }
            4 | 5 => {
                let depth = depth + 1;
                if depth > MAX_DEPTH {
                    return Err(BadCbor("nesting deeper than 8"));
                }
                if major == 4 {
                    let count = self.length(argument, 1)?;
                    let mut items = Vec::new();
                    for _ in 0..count {
                        items.push(self.item(depth)?);
                    }
                    Ok(Value::Array(items))
                } else {
                    let count = self.length(argument, 2)?;
                    let mut entries: Vec<(Value<'a>, Value<'a>)> = Vec::new();
                    for _ in 0..count {
                        let key = self.item(depth)?;
                        if get(&entries, &key).is_some() {
                            return Err(BadCbor("duplicate map key"));
                        }
                        let value = self.item(depth)?;
                        entries.push((key, value));
                    }
                    Ok(Value::Map(entries))
                }
            }
            6 => Err(BadCbor("tags are not accepted")),
            _ => Err(BadCbor("floats and simple values are not accepted")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_subset() {
        // {"a": [1, -2, h'0102'], 3: "xy"}
        let input = [
            0xa2, 0x61, b'a', 0x83, 0x01, 0x21, 0x42, 0x01, 0x02, 0x03, 0x62, b'x', b'y',
        ];
        let value = decode(&input).unwrap();
        let map = value.as_map().unwrap();
        let array = get(map, &Value::Text("a")).unwrap().as_array().unwrap();
        assert_eq!(array[0].as_integer(), Some(1));
        assert_eq!(array[1].as_integer(), Some(-2));
        assert_eq!(array[2].as_bytes(), Some(&[1u8, 2][..]));
        assert_eq!(get(map, &Value::Integer(3)).unwrap().as_text(), Some("xy"));
        // Largest and smallest integers.
        let max = [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(decode(&max).unwrap(), Value::Integer(i128::from(u64::MAX)));
        let min = [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            decode(&min).unwrap(),
            Value::Integer(-1 - i128::from(u64::MAX))
        );
    }

    #[test]
    fn refuses_what_it_does_not_accept() {
        let cases: &[(&[u8], &str)] = &[
            (&[], "truncated CBOR"),
            (&[0x5f, 0x41, 0x00, 0xff], "indefinite length"),
            (&[0x9f, 0xff], "indefinite length"),
            (&[0xc0, 0x00], "tags are not accepted"),
            (
                &[0xf9, 0x3c, 0x00],
                "floats and simple values are not accepted",
            ),
            (&[0xf5], "floats and simple values are not accepted"),
            (&[0x1c], "reserved additional information"),
            (&[0x18, 0x05], "argument not in its shortest form"),
            (&[0x19, 0x00, 0xff], "argument not in its shortest form"),
            (&[0x42, 0x01], "length beyond the end of the input"),
            (&[0x62, 0xff, 0xfe], "text string is not UTF-8"),
            (&[0xa2, 0x01, 0x02, 0x01, 0x03], "duplicate map key"),
            (&[0x01, 0x02], "trailing bytes after the CBOR item"),
        ];
        for (input, why) in cases {
            assert_eq!(decode(input), Err(BadCbor(why)), "{input:02x?}");
        }
    }

    #[test]
    fn huge_declared_lengths_cost_nothing() {
        // A byte string, an array and a map each claiming 2^64 - 1 elements, in 9 bytes.
        for major in [0x5b_u8, 0x9b, 0xbb] {
            let input = [major, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
            assert!(decode(&input).is_err());
        }
        // A map claiming 3 entries with 5 bytes left: it needs at least 6.
        assert_eq!(
            decode(&[0xa3, 0x01, 0x02, 0x03, 0x04, 0x05]),
            Err(BadCbor("length beyond the end of the input"))
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let mut ok = vec![0x81; MAX_DEPTH];
        ok.push(0x00);
        assert!(decode(&ok).is_ok());
        let mut deep = vec![0x81; MAX_DEPTH + 1];
        deep.push(0x00);
        assert_eq!(decode(&deep), Err(BadCbor("nesting deeper than 8")));
        // 100,000 levels: refused at level 9, without recursing further.
        let deeper = vec![0x81; 100_000];
        assert!(decode(&deeper).is_err());
    }

    #[test]
    fn size_is_bounded() {
        let mut big = vec![0x5a, 0x00, 0x01, 0x00, 0x00];
        big.resize(5 + 65_536, 0);
        assert_eq!(decode(&big), Err(BadCbor("CBOR input larger than 64 KiB")));
    }
}
