//! The session mix: which kind of SMTP session each start gets. Deterministic smooth
//! weighted round-robin (nginx style), so a run of N sessions holds each kind in exact
//! proportion (±1) and two runs with the same mix send the same sequence.
use crate::smtp_client::SessionKind;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    #[error("mix entry {0:?} is not KIND=WEIGHT (kinds: legal, pipelined, illegal, large)")]
    Entry(String),
    #[error("mix has no positive weight")]
    Empty,
}

#[derive(Debug, Clone)]
pub struct Mix {
    entries: Vec<(SessionKind, i64)>,
    current: Vec<i64>,
    total: i64,
}

impl Mix {
    /// Parses `legal=70,pipelined=10,illegal=10,large=10` (a bare kind means weight 1).
    pub fn parse(s: &str) -> Result<Self, MixError> {
        let mut entries = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, w) = match part.split_once('=') {
                Some((k, w)) => (
                    k.trim(),
                    w.trim()
                        .parse::<u32>()
                        .map_err(|_| MixError::Entry(part.into()))?,
                ),
                None => (part, 1),
            };
            let kind = SessionKind::parse(k).ok_or_else(|| MixError::Entry(part.into()))?;
            if w > 0 {
                entries.push((kind, i64::from(w)));
            }
        }
        Self::new(entries)
    }

    pub fn new(entries: Vec<(SessionKind, i64)>) -> Result<Self, MixError> {
        let total: i64 = entries.iter().map(|e| e.1).sum();
        if total <= 0 {
            return Err(MixError::Empty);
        }
        Ok(Mix {
            current: vec![0; entries.len()],
            entries,
            total,
        })
    }

    /// The kind of the next session.
    pub fn next_kind(&mut self) -> SessionKind {
        let mut best = 0;
        for (c, e) in self.current.iter_mut().zip(&self.entries) {
            *c += e.1;
        }
        for i in 1..self.current.len() {
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        self.current[best] -= self.total;
        self.entries[best].0
    }

    pub fn describe(&self) -> String {
        self.entries
            .iter()
            .map(|(k, w)| format!("{}={w}", k.name()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_proportions() {
        let mut m = Mix::parse("legal=7,pipelined=1,illegal=1,large=1").unwrap();
        let mut n = [0usize; 4];
        for _ in 0..1000 {
            let k = m.next_kind();
            n[SessionKind::ALL.iter().position(|&x| x == k).unwrap()] += 1;
        }
        assert_eq!(n, [700, 100, 100, 100]);
    }

    #[test]
    fn smooth_spread() {
        let mut m = Mix::parse("legal=1,large=1").unwrap();
        let v: Vec<_> = (0..4).map(|_| m.next_kind()).collect();
        assert_eq!(
            v,
            [
                SessionKind::Legal,
                SessionKind::Large,
                SessionKind::Legal,
                SessionKind::Large
            ]
        );
    }

    #[test]
    fn errors() {
        assert!(Mix::parse("legal=x").is_err());
        assert!(Mix::parse("bogus=1").is_err());
        assert_eq!(Mix::parse("legal=0").unwrap_err(), MixError::Empty);
        assert_eq!(Mix::parse("pipelined").unwrap().describe(), "pipelined=1");
    }
}
