//! Streaming sessions: a drawing sent stroke by stroke, a guess after every part. The server
//! keeps each session's strokes as sent and answers for the whole drawing so far, exactly as a
//! request sending the whole drawing would be answered.
//!
//! The sketch models recur trains are not causal, so no recurrent state is carried between
//! parts: their convolutions look both ways (`same` padding) and a drawing is scaled by its
//! whole bounding box (a new stroke can rescale every earlier point), and raw ink is simplified
//! as a whole. Each part therefore recomputes the drawing, which costs about one request's time
//! (see docs/serve.md for the figures).
//!
//! Sessions are bounded in number and in points, and expire when left idle.

use crate::error::ApiError;
use recur_data::quickdraw::{Stroke, MAX_POINTS};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most sessions open at once; more are refused (503) until some end or expire.
pub const MAX_SESSIONS: usize = 10_000;

/// A session unused for this long is forgotten.
pub const SESSION_IDLE: Duration = Duration::from_secs(300);

/// One drawing being sent in parts.
struct Session {
    /// The model it was opened for.
    model: String,
    /// The strokes so far, as sent.
    strokes: Vec<Stroke>,
    /// Whether any part was raw ink (to be simplified whole).
    raw: bool,
    last_used: Instant,
}

/// The open sessions by id.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a session for `model`, forgetting the expired ones first; its id.
    pub fn create(&self, model: &str) -> Result<String, ApiError> {
        let mut open = self.open();
        let now = Instant::now();
        open.retain(|_, s| now.duration_since(s.last_used) < SESSION_IDLE);
        if open.len() >= MAX_SESSIONS {
            return Err(ApiError::unavailable(format!(
                "{MAX_SESSIONS} sessions are open: end some (DELETE) or wait for idle ones to expire"
            )));
        }
        let id = loop {
            let id = random_id();
            if !open.contains_key(&id) {
                break id;
            }
        };
        let session = Session {
            model: model.to_string(),
            strokes: Vec::new(),
            raw: false,
            last_used: now,
        };
        open.insert(id.clone(), session);
        Ok(id)
    }

    /// Adds `strokes` to session `id` of `model` and returns the whole drawing so far and
    /// whether it is raw ink; refuses an unknown or expired session, and a drawing that would
    /// pass [`MAX_POINTS`].
    pub fn extend(
        &self,
        model: &str,
        id: &str,
        strokes: Vec<Stroke>,
        raw: bool,
    ) -> Result<(Vec<Stroke>, bool), ApiError> {
        let mut open = self.open();
        let now = Instant::now();
        let session = match open.get_mut(id) {
            Some(s) if s.model == model && now.duration_since(s.last_used) < SESSION_IDLE => s,
            _ => {
                return Err(ApiError::not_found(format!(
                    "no open session `{id}` for model `{model}` (sessions expire after {} s idle)",
                    SESSION_IDLE.as_secs()
                )))
            }
        };
        let points: usize = session.strokes.iter().chain(&strokes).map(Vec::len).sum();
        if points > MAX_POINTS {
            return Err(ApiError::bad_request(format!(
                "the drawing would have {points} points, more than the {MAX_POINTS} a drawing may have"
            )));
        }
        session.strokes.extend(strokes);
        session.raw |= raw;
        session.last_used = now;
        Ok((session.strokes.clone(), session.raw))
    }

    /// Ends session `id` of `model`; whether it was open.
    pub fn end(&self, model: &str, id: &str) -> bool {
        let mut open = self.open();
        match open.get(id) {
            Some(s) if s.model == model => open.remove(id).is_some(),
            _ => false,
        }
    }
}

/// 128 random bits as hex: unguessable enough that one client cannot write into another's
/// drawing (the standard library's hasher keys are random per process and per call).
fn random_id() -> String {
    let half = || std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("{:016x}{:016x}", half(), half())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_join_parts_in_order_and_refuse_unknown_or_other_models_ids() {
        let sessions = Sessions::default();
        let id = sessions.create("doodles").unwrap();
        assert_eq!(id.len(), 32);
        assert_ne!(id, sessions.create("doodles").unwrap());
        let (drawing, raw) = sessions.extend("doodles", &id, vec![vec![[1.0, 2.0]]], false).unwrap();
        assert_eq!((drawing.len(), raw), (1, false));
        let (drawing, raw) = sessions
            .extend("doodles", &id, vec![vec![[3.0, 4.0], [5.0, 6.0]]], true)
            .unwrap();
        assert_eq!(drawing, vec![vec![[1.0, 2.0]], vec![[3.0, 4.0], [5.0, 6.0]]]);
        assert!(raw);
        let e = sessions.extend("other", &id, vec![], false).err().unwrap();
        assert_eq!(e.status.as_u16(), 404);
        let too_many = vec![vec![[0.0, 0.0]; MAX_POINTS]];
        let e = sessions.extend("doodles", &id, too_many, false).err().unwrap();
        assert!(e.message.contains("more than the 20000"), "{}", e.message);
        assert!(!sessions.end("other", &id));
        assert!(sessions.end("doodles", &id));
        assert_eq!(
            sessions
                .extend("doodles", &id, vec![], false)
                .err()
                .unwrap()
                .status
                .as_u16(),
            404
        );
    }
}
