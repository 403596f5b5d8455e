//! The subset of Python's pickle format that CIFAR-10's python batches use: a dict of
//! lists, strings and one numpy `uint8` array, pickled by Python 2 (strings as `BINSTRING`)
//! or by Python 3 at protocols 2 to 5.
//!
//! `serde-pickle` cannot read these files: the array is rebuilt by calling
//! `numpy.core.multiarray._reconstruct` and `BUILD`ing its state, which it does not model.
//! This reader executes the opcodes on an arena of values without calling anything: a
//! call (`REDUCE`, `NEWOBJ`) becomes a [`Value::Call`] node and `BUILD` attaches the state
//! to it, so the caller reads the array from the node's state. Only `_codecs.encode(s,
//! 'latin1')` (how Python 3 pickles `bytes` at protocol 2) is evaluated.

use std::collections::HashMap;
use std::sync::Arc;

/// A decoded pickle value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// A float.
    Float(f64),
    /// `bytes`, or a Python 2 `str` (shared: the memo and the containers that hold an
    /// array's 30 MB of data refer to one copy).
    Bytes(Arc<[u8]>),
    /// A (unicode) string.
    Str(String),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict as key-value pairs in pickle order.
    Dict(Vec<(Value, Value)>),
    /// A global such as `numpy dtype`: module and name.
    Global(String, String),
    /// A call of `callable` with `args`, plus the state `BUILD` gave it.
    Call {
        /// The called object, usually a [`Value::Global`].
        callable: Box<Value>,
        /// The arguments.
        args: Box<Value>,
        /// The `BUILD` state, if any.
        state: Option<Box<Value>>,
    },
}

/// Why a pickle could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum PickleError {
    /// The data ends inside an opcode.
    #[error("pickle ends early at byte {offset}")]
    Truncated {
        /// Where the missing bytes should start.
        offset: usize,
    },
    /// An opcode outside the supported subset.
    #[error("unsupported pickle opcode 0x{opcode:02x} at byte {offset}")]
    Unsupported {
        /// The opcode byte.
        opcode: u8,
        /// Its position.
        offset: usize,
    },
    /// The opcodes do not form a valid program (empty stack, missing mark, bad memo key).
    #[error("malformed pickle at byte {offset}: {what}")]
    Malformed {
        /// The opcode's position.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
}

/// Reads one pickled value from `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Value, PickleError> {
    Machine::new(bytes).run()
}

/// Values live in `arena`; the stack and the memo hold indices, so that `APPENDS` on a
/// memoised list changes the one list both refer to, and no large array is ever copied.
struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    arena: Vec<Value>,
    stack: Vec<usize>,
    marks: Vec<usize>,
    memo: HashMap<u32, usize>,
}

impl<'a> Machine<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            arena: Vec::new(),
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(PickleError::Truncated { offset: self.at })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len_u64(&mut self, offset: usize) -> Result<usize, PickleError> {
        let b = self.take(8)?;
        let n = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        usize::try_from(n).map_err(|_| PickleError::Truncated { offset })
    }

    fn line(&mut self) -> Result<&'a str, PickleError> {
        let offset = self.at;
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated { offset })?;
        self.at += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| PickleError::Malformed {
            offset,
            what: "a GLOBAL name is not UTF-8",
        })
    }

    fn push(&mut self, value: Value) {
        self.arena.push(value);
        self.stack.push(self.arena.len() - 1);
    }

    fn pop(&mut self, offset: usize) -> Result<usize, PickleError> {
        self.stack.pop().ok_or(PickleError::Malformed {
            offset,
            what: "pop from an empty stack",
        })
    }

    fn top(&self, offset: usize) -> Result<usize, PickleError> {
        self.stack.last().copied().ok_or(PickleError::Malformed {
            offset,
            what: "empty stack",
        })
    }

    /// Takes the values pushed since the last MARK, as arena indices.
    fn pop_mark(&mut self, offset: usize) -> Result<Vec<usize>, PickleError> {
        let mark = self.marks.pop().ok_or(PickleError::Malformed {
            offset,
            what: "no MARK",
        })?;
        if mark > self.stack.len() {
            return Err(PickleError::Malformed {
                offset,
                what: "MARK above the stack",
            });
        }
        Ok(self.stack.split_off(mark))
    }

    /// A copy of an arena value (cheap: byte strings are shared).
    fn value(&self, index: usize) -> Value {
        self.arena[index].clone()
    }

    fn string(&mut self, bytes: &[u8], offset: usize) -> Result<(), PickleError> {
        let text = std::str::from_utf8(bytes).map_err(|_| PickleError::Malformed {
            offset,
            what: "a unicode string is not UTF-8",
        })?;
        self.push(Value::Str(text.to_owned()));
        Ok(())
    }

    fn memo_put(&mut self, key: u32, offset: usize) -> Result<(), PickleError> {
        let top = self.top(offset)?;
        self.memo.insert(key, top);
        Ok(())
    }

    fn memo_get(&mut self, key: u32, offset: usize) -> Result<(), PickleError> {
        let index = *self.memo.get(&key).ok_or(PickleError::Malformed {
            offset,
            what: "memo key never stored",
        })?;
        self.stack.push(index);
        Ok(())
    }

    fn run(mut self) -> Result<Value, PickleError> {
        loop {
            let offset = self.at;
            let opcode = self.u8()?;
            match opcode {
                0x80 => {
                    self.u8()?; // PROTO n
                }
                0x95 => {
                    self.take(8)?; // FRAME length: frames only group opcodes
                }
                b'.' => {
                    let top = self.pop(offset)?;
                    return Ok(self.value(top));
                }
                b'(' => self.marks.push(self.stack.len()),
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(i64::from(v)));
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes.
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?;
                    if n > 8 {
                        return Err(PickleError::Malformed {
                            offset,
                            what: "integer wider than 64 bits",
                        });
                    }
                    let fill = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        0xff
                    } else {
                        0
                    };
                    let mut full = [fill; 8];
                    full[..n].copy_from_slice(b);
                    self.push(Value::Int(i64::from_le_bytes(full)));
                }
                b'G' => {
                    let b = self.take(8)?;
                    let v = f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                    self.push(Value::Float(v));
                }
                b'U' | b'C' => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?;
                    self.push(Value::Bytes(Arc::from(b)));
                }
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    self.push(Value::Bytes(Arc::from(b)));
                }
                0x8e => {
                    let n = self.len_u64(offset)?;
                    let b = self.take(n)?;
                    self.push(Value::Bytes(Arc::from(b)));
                }
                0x8c => {
                    let n = usize::from(self.u8()?);
                    let b = self.take(n)?;
                    self.string(b, offset)?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    self.string(b, offset)?;
                }
                0x8d => {
                    let n = self.len_u64(offset)?;
                    let b = self.take(n)?;
                    self.string(b, offset)?;
                }
                b')' => self.push(Value::Tuple(Vec::new())),
                b']' => self.push(Value::List(Vec::new())),
                b'}' => self.push(Value::Dict(Vec::new())),
                b't' => {
                    let items = self.pop_mark(offset)?;
                    let items = items.into_iter().map(|i| self.value(i)).collect();
                    self.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(opcode - 0x84);
                    if self.stack.len() < n {
                        return Err(PickleError::Malformed {
                            offset,
                            what: "tuple of more items than the stack holds",
                        });
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    let items = items.into_iter().map(|i| self.value(i)).collect();
                    self.push(Value::Tuple(items));
                }
                b'a' => {
                    let item = self.pop(offset)?;
                    let item = self.value(item);
                    let list = self.top(offset)?;
                    self.list_mut(list, offset)?.push(item);
                }
                b'e' => {
                    let items = self.pop_mark(offset)?;
                    let items: Vec<Value> = items.into_iter().map(|i| self.value(i)).collect();
                    let list = self.top(offset)?;
                    self.list_mut(list, offset)?.extend(items);
                }
                b's' => {
                    let value = self.pop(offset)?;
                    let key = self.pop(offset)?;
                    let pair = (self.value(key), self.value(value));
                    let dict = self.top(offset)?;
                    self.dict_mut(dict, offset)?.push(pair);
                }
                b'u' => {
                    let items = self.pop_mark(offset)?;
                    if items.len() % 2 != 0 {
                        return Err(PickleError::Malformed {
                            offset,
                            what: "SETITEMS with an odd number of values",
                        });
                    }
                    let pairs: Vec<(Value, Value)> = items
                        .chunks_exact(2)
                        .map(|kv| (self.value(kv[0]), self.value(kv[1])))
                        .collect();
                    let dict = self.top(offset)?;
                    self.dict_mut(dict, offset)?.extend(pairs);
                }
                b'c' => {
                    let module = self.line()?.to_owned();
                    let name = self.line()?.to_owned();
                    self.push(Value::Global(module, name));
                }
                0x93 => {
                    let name = self.pop(offset)?;
                    let module = self.pop(offset)?;
                    match (self.value(module), self.value(name)) {
                        (Value::Str(module), Value::Str(name)) => {
                            self.push(Value::Global(module, name));
                        }
                        _ => {
                            return Err(PickleError::Malformed {
                                offset,
                                what: "STACK_GLOBAL of non-strings",
                            });
                        }
                    }
                }
                b'R' | 0x81 => {
                    let args = self.pop(offset)?;
                    let callable = self.pop(offset)?;
                    let (callable, args) = (self.value(callable), self.value(args));
                    self.push(call(callable, args));
                }
                b'b' => {
                    let state = self.pop(offset)?;
                    let state = self.value(state);
                    let target = self.top(offset)?;
                    match &mut self.arena[target] {
                        Value::Call { state: slot, .. } => *slot = Some(Box::new(state)),
                        _ => {
                            return Err(PickleError::Malformed {
                                offset,
                                what: "BUILD on a value that no call made",
                            });
                        }
                    }
                }
                b'q' => {
                    let key = u32::from(self.u8()?);
                    self.memo_put(key, offset)?;
                }
                b'r' => {
                    let key = self.u32()?;
                    self.memo_put(key, offset)?;
                }
                0x94 => {
                    let key = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                    self.memo_put(key, offset)?;
                }
                b'h' => {
                    let key = u32::from(self.u8()?);
                    self.memo_get(key, offset)?;
                }
                b'j' => {
                    let key = self.u32()?;
                    self.memo_get(key, offset)?;
                }
                _ => return Err(PickleError::Unsupported { opcode, offset }),
            }
        }
    }

    fn list_mut(&mut self, index: usize, offset: usize) -> Result<&mut Vec<Value>, PickleError> {
        match &mut self.arena[index] {
            Value::List(items) => Ok(items),
            _ => Err(PickleError::Malformed {
                offset,
                what: "APPEND to a non-list",
            }),
        }
    }

    fn dict_mut(
        &mut self,
        index: usize,
        offset: usize,
    ) -> Result<&mut Vec<(Value, Value)>, PickleError> {
        match &mut self.arena[index] {
            Value::Dict(items) => Ok(items),
            _ => Err(PickleError::Malformed {
                offset,
                what: "SETITEM on a non-dict",
            }),
        }
    }
}

/// `_codecs.encode(text, 'latin1')` is evaluated (Python 3's protocol-2 `bytes`); every
/// other call stays a node.
fn call(callable: Value, args: Value) -> Value {
    if let (Value::Global(module, name), Value::Tuple(items)) = (&callable, &args)
        && module == "_codecs"
        && name == "encode"
        && let [Value::Str(text), Value::Str(encoding)] = items.as_slice()
        && matches!(encoding.as_str(), "latin1" | "latin-1")
        && let Some(bytes) = text
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect::<Option<Vec<u8>>>()
    {
        return Value::Bytes(Arc::from(bytes));
    }
    Value::Call {
        callable: Box::new(callable),
        args: Box::new(args),
        state: None,
    }
}

impl Value {
    /// The value of `key` in a dict, matching `bytes` and `str` keys alike (Python 2
    /// pickles have byte-string keys, Python 3 ones text keys).
    pub fn get(&self, key: &str) -> Option<&Value> {
        let Value::Dict(pairs) = self else {
            return None;
        };
        pairs.iter().find_map(|(k, v)| {
            let matches = match k {
                Value::Bytes(b) => **b == *key.as_bytes(),
                Value::Str(s) => s == key,
                _ => false,
            };
            matches.then_some(v)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_containers_memo_and_latin1_bytes() {
        // {'a': [1, 300, -2], b'k': _codecs.encode('\xff', 'latin1')}, list memoised then
        // extended, then fetched again from the memo into a tuple.
        let mut p = vec![0x80, 2, b'}', b'(', 0x8c, 1, b'a', b']', b'q', 0, b'('];
        p.extend([
            b'K', 1, b'M', 0x2c, 0x01, b'J', 0xfe, 0xff, 0xff, 0xff, b'e',
        ]);
        p.extend([b'U', 1, b'k', b'c']);
        p.extend(b"_codecs\nencode\n");
        p.extend([b'X', 2, 0, 0, 0, 0xc3, 0xbf, 0x8c, 6]);
        p.extend(b"latin1");
        p.extend([0x86, b'R', b'u', b'.']);
        let value = parse(&p).unwrap();
        assert_eq!(
            value.get("a"),
            Some(&Value::List(vec![
                Value::Int(1),
                Value::Int(300),
                Value::Int(-2)
            ]))
        );
        assert_eq!(
            value.get("k"),
            Some(&Value::Bytes(Arc::from(&[0xff_u8][..])))
        );
    }

    #[test]
    fn bad_programs_are_errors() {
        assert_eq!(parse(&[0x80]), Err(PickleError::Truncated { offset: 1 }));
        assert_eq!(
            parse(&[b'T', 0xff, 0xff, 0xff, 0x7f, 1]),
            Err(PickleError::Truncated { offset: 5 })
        );
        assert!(matches!(
            parse(b"e."),
            Err(PickleError::Malformed { offset: 0, .. })
        ));
        assert!(matches!(
            parse(b"h\x05."),
            Err(PickleError::Malformed { .. })
        ));
        assert_eq!(
            parse(b"\x00"),
            Err(PickleError::Unsupported {
                opcode: 0,
                offset: 0
            })
        );
    }
}
