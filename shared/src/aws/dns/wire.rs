//! DNS wire format (RFC 1035): the subset the deployer and its test server use.

/// Record type A.
pub const TYPE_A: u16 = 1;
/// Record type NS.
pub const TYPE_NS: u16 = 2;
/// Record type CNAME.
pub const TYPE_CNAME: u16 = 5;
/// Response code: no error.
pub const RCODE_OK: u8 = 0;
/// Response code: server failure.
pub const RCODE_SERVFAIL: u8 = 2;
/// Response code: name does not exist.
pub const RCODE_NXDOMAIN: u8 = 3;

/// A decoded message: header fields, the first question, and the answer records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Transaction ID.
    pub id: u16,
    /// True for a response.
    pub response: bool,
    /// Response code.
    pub rcode: u8,
    /// First question: name and type.
    pub question: Option<(String, u16)>,
    /// Answer records: name, type, data.
    pub answers: Vec<(String, u16, Vec<u8>)>,
    /// The smallest TTL of the answer records, in seconds (none without answers).
    pub min_ttl: Option<u32>,
}

/// A query for `name` of type `qtype`, recursion desired.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    push_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out
}

/// A response to `request` with these records (`(type, data)` for the question's name).
pub fn response(request: &Message, rcode: u8, records: &[(u16, Vec<u8>)], ttl: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&request.id.to_be_bytes());
    out.push(0x84 | 0x01); // response, authoritative, recursion desired
    out.push(0x80 | (rcode & 0x0f)); // recursion available
    let questions = u16::from(request.question.is_some());
    out.extend_from_slice(&questions.to_be_bytes());
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    if let Some((name, qtype)) = &request.question {
        push_name(&mut out, name);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
    }
    for (rtype, data) in records {
        out.extend_from_slice(&[0xc0, 12]); // pointer to the question's name
        push_record_data(&mut out, *rtype, ttl, data);
    }
    out
}

/// A record's type, class IN, TTL and data, after its owner name.
fn push_record_data(out: &mut Vec<u8>, rtype: u16, ttl: u32, data: &[u8]) {
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// A response to `request` whose records each name their owner in full (`(owner, type, data)`):
/// records of other names, as an alias chain or a forged answer carries them.
pub fn response_named(request: &Message, records: &[(String, u16, Vec<u8>)], ttl: u32) -> Vec<u8> {
    let mut out = response(request, RCODE_OK, &[], ttl);
    out[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    for (owner, rtype, data) in records {
        push_name(&mut out, owner);
        push_record_data(&mut out, *rtype, ttl, data);
    }
    out
}

/// Encodes a name as labels (for NS record data).
pub fn name_bytes(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    push_name(&mut out, name);
    out
}

fn push_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    out.push(0);
}

/// Decodes a message; `None` when it is malformed.
pub fn decode(buf: &[u8]) -> Option<Message> {
    let u16_at = |i: usize| Some(u16::from_be_bytes([*buf.get(i)?, *buf.get(i + 1)?]));
    let id = u16_at(0)?;
    let flags = u16_at(2)?;
    let (qdcount, ancount) = (u16_at(4)?, u16_at(6)?);
    let mut pos = 12;
    let mut question = None;
    for q in 0..qdcount {
        let (name, next) = read_name(buf, pos)?;
        let qtype = u16_at(next)?;
        pos = next + 4;
        if q == 0 {
            question = Some((name, qtype));
        }
    }
    let mut answers = Vec::new();
    let mut min_ttl: Option<u32> = None;
    for _ in 0..ancount {
        let (name, next) = read_name(buf, pos)?;
        let rtype = u16_at(next)?;
        let ttl = (u32::from(u16_at(next + 4)?) << 16) | u32::from(u16_at(next + 6)?);
        min_ttl = Some(min_ttl.map_or(ttl, |t| t.min(ttl)));
        let len = usize::from(u16_at(next + 8)?);
        let start = next + 10;
        let data = buf.get(start..start + len)?;
        // NS and CNAME data is a (possibly compressed) name: expand it so callers need no message.
        let data = if rtype == TYPE_NS || rtype == TYPE_CNAME {
            name_bytes(&read_name(buf, start)?.0)
        } else {
            data.to_vec()
        };
        answers.push((name, rtype, data));
        pos = start + len;
    }
    Some(Message {
        id,
        response: flags & 0x8000 != 0,
        rcode: (flags & 0x000f) as u8,
        question,
        answers,
        min_ttl,
    })
}

/// Reads a name at `pos`, following compression pointers; returns it and the position after it.
pub fn read_name(buf: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut end = None;
    for _hop in 0..64 {
        let len = *buf.get(pos)?;
        match len {
            0 => {
                return Some((labels.join("."), end.unwrap_or(pos + 1)));
            }
            l if l & 0xc0 == 0xc0 => {
                let target = usize::from(u16::from_be_bytes([l & 0x3f, *buf.get(pos + 1)?]));
                end.get_or_insert(pos + 2);
                pos = target;
            }
            l => {
                let label = buf.get(pos + 1..pos + 1 + usize::from(l))?;
                labels.push(String::from_utf8_lossy(label).into_owned());
                pos += 1 + usize::from(l);
            }
        }
    }
    None
}
