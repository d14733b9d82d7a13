//! Checking what concurrent calls were served against the changes made
//! meanwhile (the read-your-writes tests of one runtime and of replicas).

use std::time::Instant;

/// One change of what production serves, as the writer saw it.
pub struct Change<S> {
    pub sent: Instant,
    pub returned: Instant,
    pub state: S,
}

/// Asserts that a call sent at `sent` and answered at `returned` was served
/// `served`: the state of the last change that returned before it was sent,
/// or of any change sent before it returned. A change that returned before
/// the call was sent can never be missed.
pub fn assert_served_current<S: PartialEq + std::fmt::Debug>(
    changes: &[Change<S>],
    sent: Instant,
    returned: Instant,
    served: &S,
) {
    let floor = changes
        .iter()
        .rposition(|c| c.returned < sent)
        .expect("the first change returned before any call");
    let allowed: Vec<&S> = changes[floor..]
        .iter()
        .enumerate()
        .filter(|(i, c)| *i == 0 || c.sent < returned)
        .map(|(_, c)| &c.state)
        .collect();
    assert!(
        allowed.contains(&served),
        "a call sent after {:?} had returned was served {served:?}; allowed: {allowed:?}",
        changes[floor].state
    );
}
