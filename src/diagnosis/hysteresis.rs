//! Raising and clearing with hysteresis: a finding is raised after its symptom showed in
//! `raise_after` consecutive windows and cleared after `clear_after` consecutive windows without
//! it, so a symptom on the edge does not flap.

/// A change of a finding's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// It is raised now.
    Raised,
    /// It is cleared now.
    Cleared,
}

/// The state of one finding across windows.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    raised: bool,
    /// Consecutive windows with the symptom (while clear) or without it (while raised).
    streak: u32,
}

impl Tracker {
    /// Whether the finding is raised.
    pub fn is_raised(&self) -> bool {
        self.raised
    }

    /// Takes one window's verdict; returns the transition it causes, if any.
    pub fn observe(
        &mut self,
        symptom: bool,
        raise_after: u32,
        clear_after: u32,
    ) -> Option<Transition> {
        if symptom == self.raised {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.raised {
            clear_after
        } else {
            raise_after
        };
        if self.streak < needed {
            return None;
        }
        self.raised = symptom;
        self.streak = 0;
        Some(if symptom {
            Transition::Raised
        } else {
            Transition::Cleared
        })
    }

    /// Raises it at once (a symptom seen outside the windows).
    pub fn raise_now(&mut self) -> Option<Transition> {
        let was = self.raised;
        self.raised = true;
        self.streak = 0;
        (!was).then_some(Transition::Raised)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_is_raised_after_enough_windows_and_cleared_after_enough_quiet_ones() {
        let mut t = Tracker::default();
        assert_eq!(t.observe(true, 2, 3), None);
        assert_eq!(t.observe(true, 2, 3), Some(Transition::Raised));
        assert_eq!(t.observe(true, 2, 3), None);
        assert_eq!(t.observe(false, 2, 3), None);
        assert_eq!(t.observe(false, 2, 3), None);
        assert_eq!(t.observe(false, 2, 3), Some(Transition::Cleared));
        assert!(!t.is_raised());
    }

    #[test]
    fn a_symptom_on_the_edge_does_not_flap() {
        let mut t = Tracker::default();
        let transitions: Vec<_> = [true, false, true, false, true, false]
            .into_iter()
            .filter_map(|symptom| t.observe(symptom, 2, 3))
            .collect();
        assert!(transitions.is_empty(), "{transitions:?}");
        t.observe(true, 2, 3);
        assert_eq!(t.observe(true, 2, 3), Some(Transition::Raised));
        let transitions: Vec<_> = [false, true, false, false, true]
            .into_iter()
            .filter_map(|symptom| t.observe(symptom, 2, 3))
            .collect();
        assert!(transitions.is_empty(), "{transitions:?}");
    }

    #[test]
    fn raising_at_once_happens_once() {
        let mut t = Tracker::default();
        assert_eq!(t.raise_now(), Some(Transition::Raised));
        assert_eq!(t.raise_now(), None);
    }
}
