//! A small reader of Python pickles, enough for NumPy arrays saved with `allow_pickle` (object
//! arrays of arrays, as sketch-rnn's `.npz` files hold), written by Python 2 or 3 at protocols
//! 2–4. It builds a tree of values and never runs anything: globals are only names.
//!
//! Hostile pickles cannot exhaust the machine: every value is shared, not copied, when the memo
//! hands it out again (so `GET` in a loop costs nothing); nesting deeper than [`MAX_DEPTH`] is
//! refused; and nothing here walks a value recursively, dropping included, so even a value
//! nested millions deep (or a list that holds itself) cannot overflow the stack.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Deepest nesting of containers accepted. A NumPy object array of arrays nests about seven
/// deep; anything near this is not an array recur can use.
pub const MAX_DEPTH: usize = 100;

/// A call recorded by `REDUCE`/`NEWOBJ` and the state `BUILD` gave it.
#[derive(Debug, Default)]
pub struct Object {
    /// The callable (usually a [`Value::Global`]).
    pub callable: Value,
    /// Its arguments (a tuple).
    pub args: Value,
    /// State set by `BUILD`.
    pub state: Option<Value>,
}

/// A pickled value. Cloning is cheap: containers, strings and bytes are reference-counted.
#[derive(Clone, Default)]
pub enum Value {
    /// `None`.
    #[default]
    None,
    /// `True`/`False`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A text string.
    Str(Rc<str>),
    /// A byte string (Python 2 `str`, Python 3 `bytes`).
    Bytes(Rc<[u8]>),
    /// A tuple.
    Tuple(Rc<Vec<Value>>),
    /// A list (shared, since pickles refer back to them).
    List(Rc<RefCell<Vec<Value>>>),
    /// A dict as key/value pairs.
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    /// A `module.name` reference.
    Global(String, String),
    /// A constructed object (shared, since `BUILD` fills it after it is memoised).
    Object(Rc<RefCell<Object>>),
}

impl std::fmt::Debug for Value {
    /// Shallow on purpose: a derived, recursive `Debug` could overflow the stack on deep or
    /// self-referencing values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::None => write!(f, "None"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "bytes[{}]", b.len()),
            Value::Tuple(t) => write!(f, "tuple[{}]", t.len()),
            Value::List(l) => write!(f, "list[{}]", l.borrow().len()),
            Value::Dict(d) => write!(f, "dict[{}]", d.borrow().len()),
            Value::Global(m, n) => write!(f, "{m}.{n}"),
            Value::Object(o) => write!(f, "object({:?})", o.borrow().callable),
        }
    }
}

impl Drop for Value {
    /// Drops nested values with a heap stack instead of recursion: the derived drop of a tuple
    /// nested 200,000 deep overflows the thread's stack.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        take_children(self, &mut pending);
        while let Some(mut v) = pending.pop() {
            take_children(&mut v, &mut pending);
        }
    }
}

/// Moves the children of a container that nothing else shares into `out`, leaving it empty.
fn take_children(v: &mut Value, out: &mut Vec<Value>) {
    match v {
        Value::Tuple(t) => {
            if let Some(items) = Rc::get_mut(t) {
                out.append(items);
            }
        }
        Value::List(l) if Rc::strong_count(l) == 1 => out.append(&mut l.borrow_mut()),
        Value::Dict(d) if Rc::strong_count(d) == 1 => {
            for (k, v) in d.borrow_mut().drain(..) {
                out.push(k);
                out.push(v);
            }
        }
        Value::Object(o) if Rc::strong_count(o) == 1 => {
            let mut o = o.borrow_mut();
            out.push(std::mem::take(&mut o.callable));
            out.push(std::mem::take(&mut o.args));
            out.extend(o.state.take());
        }
        _ => {}
    }
}

/// Refuses values nested deeper than [`MAX_DEPTH`], walking shared containers once each.
fn check_depth(root: &Value) -> Result<(), String> {
    let mut seen: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut todo: Vec<(Value, usize)> = vec![(root.clone(), 0)];
    while let Some((v, depth)) = todo.pop() {
        if depth > MAX_DEPTH {
            return Err(format!("the pickle nests deeper than {MAX_DEPTH} levels"));
        }
        let (id, children): (usize, Vec<Value>) = match &v {
            Value::Tuple(t) => (Rc::as_ptr(t) as usize, t.to_vec()),
            Value::List(l) => (Rc::as_ptr(l) as usize, l.borrow().clone()),
            Value::Dict(d) => (
                Rc::as_ptr(d) as usize,
                d.borrow().iter().flat_map(|(k, v)| [k.clone(), v.clone()]).collect(),
            ),
            Value::Object(o) => {
                let id = Rc::as_ptr(o) as usize;
                let o = o.borrow();
                let mut c = vec![o.callable.clone(), o.args.clone()];
                c.extend(o.state.clone());
                (id, c)
            }
            _ => continue,
        };
        if seen.insert(id) {
            todo.extend(children.into_iter().map(|c| (c, depth + 1)));
        }
    }
    Ok(())
}

fn global(v: &Value) -> Option<(&str, &str)> {
    match v {
        Value::Global(m, n) => Some((m.as_str(), n.as_str())),
        _ => None,
    }
}

/// Parses a pickle stream.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut m = Machine {
        bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let op = m.take(1)?[0];
        if op == b'.' {
            let v = m.pop(op)?;
            check_depth(&v)?;
            return Ok(v);
        }
        let known = m.framing(op)? || m.scalar(op)? || m.container(op)? || m.memo_or_object(op)?;
        if !known {
            return Err(format!("unsupported pickle opcode {op:#x} at byte {}", m.at - 1));
        }
    }
}

/// The pickle virtual machine's state: the bytes and where it reads, the stack, the marks
/// (stack heights at each `MARK`) and the memo.
struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
}

impl Machine<'_> {
    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let s = self.bytes.get(self.at..self.at + n).ok_or("the pickle ends early")?;
        self.at += n;
        Ok(s)
    }

    /// The next 4 bytes as a little-endian u32.
    fn u32le(&mut self) -> Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// The next 1-byte length (`short`) or 4-byte length.
    fn length(&mut self, short: bool) -> Result<usize, String> {
        Ok(if short {
            self.take(1)?[0] as usize
        } else {
            self.u32le()? as usize
        })
    }

    /// The text up to the next newline (protocol 0's arguments).
    fn line(&mut self) -> Result<String, String> {
        let rest = self.bytes.get(self.at..).ok_or("the pickle ends early")?;
        let end = rest.iter().position(|&b| b == b'\n').ok_or("unterminated line")?;
        self.at += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).to_string())
    }

    fn pop(&mut self, op: u8) -> Result<Value, String> {
        self.stack.pop().ok_or_else(|| format!("stack empty at opcode {op:#x}"))
    }

    /// The values pushed since the last `MARK`, which is dropped.
    fn since_mark(&mut self) -> Result<Vec<Value>, String> {
        let m = self.marks.pop().ok_or("MARK missing")?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    /// `PROTO` and `FRAME` (skipped) and `MARK`.
    fn framing(&mut self, op: u8) -> Result<bool, String> {
        match op {
            0x80 => drop(self.take(1)?),
            0x95 => drop(self.take(8)?),
            b'(' => self.marks.push(self.stack.len()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Opcodes pushing one number, string or name.
    fn scalar(&mut self, op: u8) -> Result<bool, String> {
        let v = match op {
            b'N' => Value::None,
            0x88 => Value::Bool(true),
            0x89 => Value::Bool(false),
            b'K' => Value::Int(self.take(1)?[0] as i64),
            b'M' => {
                let s = self.take(2)?;
                Value::Int(u16::from_le_bytes([s[0], s[1]]) as i64)
            }
            b'J' => Value::Int(self.u32le()? as i32 as i64),
            0x8a => {
                let n = self.take(1)?[0] as usize;
                Value::Int(long1(self.take(n)?))
            }
            b'G' => {
                let s = self.take(8)?;
                Value::Float(f64::from_be_bytes(s.try_into().map_err(|_| "float")?))
            }
            b'U' | b'C' | b'T' | b'B' => {
                let n = self.length(matches!(op, b'U' | b'C'))?;
                Value::Bytes(self.take(n)?.into())
            }
            b'X' | 0x8c => {
                let n = self.length(op == 0x8c)?;
                Value::Str(String::from_utf8_lossy(self.take(n)?).into())
            }
            b'c' => Value::Global(self.line()?, self.line()?),
            0x93 => {
                let (n, m) = (self.pop(op)?, self.pop(op)?);
                match (&m, &n) {
                    (Value::Str(m), Value::Str(n)) => Value::Global(m.to_string(), n.to_string()),
                    _ => return Err("STACK_GLOBAL needs two strings".into()),
                }
            }
            _ => return Ok(false),
        };
        self.stack.push(v);
        Ok(true)
    }

    /// Opcodes building tuples, lists and dicts.
    fn container(&mut self, op: u8) -> Result<bool, String> {
        match op {
            b')' => self.stack.push(Value::Tuple(Rc::default())),
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err("tuple of missing items".into());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.stack.push(Value::Tuple(Rc::new(items)));
            }
            b't' => {
                let items = self.since_mark()?;
                self.stack.push(Value::Tuple(Rc::new(items)));
            }
            b']' => self.stack.push(Value::List(Rc::default())),
            b'l' => {
                let items = self.since_mark()?;
                self.stack.push(Value::List(Rc::new(RefCell::new(items))));
            }
            b'a' | b'e' => {
                let items = if op == b'a' {
                    vec![self.pop(op)?]
                } else {
                    self.since_mark()?
                };
                match self.stack.last() {
                    Some(Value::List(l)) => l.borrow_mut().extend(items),
                    _ => return Err("APPEND to a non-list".into()),
                }
            }
            b'}' => self.stack.push(Value::Dict(Rc::default())),
            b's' | b'u' => {
                let items = if op == b's' {
                    let v = self.pop(op)?;
                    vec![self.pop(op)?, v]
                } else {
                    self.since_mark()?
                };
                match self.stack.last() {
                    Some(Value::Dict(d)) => {
                        let mut d = d.borrow_mut();
                        for pair in items.chunks_exact(2) {
                            d.push((pair[0].clone(), pair[1].clone()));
                        }
                    }
                    _ => return Err("SETITEM on a non-dict".into()),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The memo's `PUT`/`GET` and the opcodes making objects (`REDUCE`, `NEWOBJ`, `BUILD`).
    fn memo_or_object(&mut self, op: u8) -> Result<bool, String> {
        match op {
            b'q' | b'r' | 0x94 => {
                let key = match op {
                    b'q' => self.take(1)?[0] as u32,
                    b'r' => self.u32le()?,
                    _ => self.memo.len() as u32,
                };
                let top = self.stack.last().cloned().ok_or("PUT on an empty stack")?;
                self.memo.insert(key, top);
            }
            b'h' | b'j' => {
                let key = if op == b'h' {
                    self.take(1)?[0] as u32
                } else {
                    self.u32le()?
                };
                let v = self.memo.get(&key).cloned().ok_or(format!("memo {key} missing"))?;
                self.stack.push(v);
            }
            b'R' | 0x81 => {
                let args = self.pop(op)?;
                let callable = self.pop(op)?;
                self.stack.push(reduce(callable, args));
            }
            b'b' => {
                let state = self.pop(op)?;
                match self.stack.last() {
                    Some(Value::Object(o)) => o.borrow_mut().state = Some(state),
                    _ => return Err("BUILD on a non-object".into()),
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// `LONG1`'s little-endian two's-complement integer of up to 8 bytes.
fn long1(s: &[u8]) -> i64 {
    let n = s.len();
    let mut v: i64 = 0;
    for (i, b) in s.iter().enumerate().take(8) {
        v |= (*b as i64) << (8 * i);
    }
    if n > 0 && n < 8 && s[n - 1] & 0x80 != 0 {
        v -= 1i64 << (8 * n);
    }
    v
}

/// `_codecs.encode(text, "latin1")` is how Python 3 pickles bytes at protocol 2: do it here.
fn reduce(callable: Value, args: Value) -> Value {
    if global(&callable) == Some(("_codecs", "encode")) {
        if let Value::Tuple(a) = &args {
            if let Some(Value::Str(s)) = a.first() {
                return Value::Bytes(s.chars().map(|c| c as u32 as u8).collect::<Vec<u8>>().into());
            }
        }
    }
    Value::Object(Rc::new(RefCell::new(Object {
        callable,
        args,
        state: None,
    })))
}

/// A NumPy array decoded from its pickle.
#[derive(Debug)]
pub enum Array {
    /// An `int16` array: shape and values.
    I16(Vec<usize>, Vec<i16>),
    /// Any other numeric dtype (name), not decoded.
    Other(String),
    /// An object array's elements.
    Objects(Vec<Value>),
}

/// Reads a `numpy.ndarray` value (made by `_reconstruct` and `BUILD`).
pub fn array(v: &Value) -> Result<Array, String> {
    let Value::Object(o) = v else {
        return Err("not an array".into());
    };
    let o = o.borrow();
    if global(&o.callable).map(|g| g.1) != Some("_reconstruct") {
        return Err("not a numpy array".into());
    }
    let Some(Value::Tuple(state)) = &o.state else {
        return Err("array without state".into());
    };
    let [_, Value::Tuple(shape), dtype, _, data] = state.as_slice() else {
        return Err("unexpected array state".into());
    };
    let shape: Vec<usize> = shape
        .iter()
        .map(|d| match d {
            Value::Int(n) if *n >= 0 => Ok(*n as usize),
            _ => Err("bad shape".to_string()),
        })
        .collect::<Result<_, _>>()?;
    let (descr, big_endian) = dtype_of(dtype)?;
    match (descr.as_str(), data) {
        (d, Value::List(items)) if d.starts_with('O') => Ok(Array::Objects(items.borrow().clone())),
        ("i2", Value::Bytes(b)) => {
            let values: Vec<i16> = b
                .chunks_exact(2)
                .map(|c| {
                    if big_endian {
                        i16::from_be_bytes([c[0], c[1]])
                    } else {
                        i16::from_le_bytes([c[0], c[1]])
                    }
                })
                .collect();
            if crate::npy::checked_size(&shape, 1) != Some(values.len()) {
                return Err("int16 data does not fill the shape".into());
            }
            Ok(Array::I16(shape, values))
        }
        (other, _) => Ok(Array::Other(other.to_string())),
    }
}

fn dtype_of(v: &Value) -> Result<(String, bool), String> {
    let Value::Object(o) = v else {
        return Err("array without dtype".into());
    };
    let o = o.borrow();
    let descr = match &o.args {
        Value::Tuple(a) => match a.first() {
            Some(Value::Str(s)) => s.to_string(),
            Some(Value::Bytes(b)) => String::from_utf8_lossy(b).to_string(),
            _ => return Err("dtype without a name".into()),
        },
        _ => return Err("dtype without arguments".into()),
    };
    let big = matches!(&o.state, Some(Value::Tuple(s)) if matches!(s.get(1), Some(Value::Str(e)) if &**e == ">")
        || matches!(s.get(1), Some(Value::Bytes(e)) if &**e == b">"));
    Ok((descr, big))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `\x80\x02)` then 200,000 × `TUPLE1` used to overflow the stack when the value was dropped.
    #[test]
    fn pickle_deep_nesting_is_refused_without_overflow() {
        let mut p = b"\x80\x02)".to_vec();
        p.extend(std::iter::repeat_n(0x85u8, 200_000));
        assert!(parse(&p).unwrap_err().contains("ends early"));
        p.push(b'.');
        assert!(parse(&p).unwrap_err().contains("deeper than"));
        let mut lists = b"\x80\x02".to_vec();
        for _ in 0..200_000 {
            lists.extend(b"]");
        }
        for _ in 0..199_999 {
            lists.extend(b"a");
        }
        lists.push(b'.');
        assert!(parse(&lists).unwrap_err().contains("deeper than"));
    }

    #[test]
    fn pickle_memo_shares_and_cycles_are_safe() {
        // 1 MB of bytes memoised and fetched 100,000 times would be 100 GB if copied.
        let mut p = b"\x80\x03B\x00\x00\x10\x00".to_vec();
        p.extend(vec![7u8; 1 << 20]);
        p.extend(b"q\x00(");
        p.extend(std::iter::repeat_n(*b"h\x00", 100_000).flatten());
        p.extend(b"l.");
        let v = parse(&p).unwrap();
        let Value::List(l) = &v else { panic!("a list") };
        assert_eq!(l.borrow().len(), 100_000);
        // A list appended to itself: a cycle that must neither hang nor overflow.
        let v = parse(b"\x80\x02]q\x00h\x00a.").unwrap();
        assert_eq!(format!("{v:?}"), "list[1]");
    }
}
