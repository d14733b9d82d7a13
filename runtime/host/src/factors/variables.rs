//! `spin:variables/variables@3.0.0`: a component sees only the variables its
//! manifest entry lists, already rendered from the app's variables at startup.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::{Accessor, HasData};

use super::bindings::spin::variables::variables::{self as wit, Error};

pub struct VariablesState {
    values: Arc<BTreeMap<String, String>>,
}

impl VariablesState {
    pub fn new(values: Arc<BTreeMap<String, String>>) -> Self {
        Self { values }
    }

    fn get(&self, name: &str) -> Result<String, Error> {
        if !is_valid_name(name) {
            return Err(Error::InvalidName(format!(
                "{name:?}: variable names are lowercase letters, digits and '_', starting with a letter"
            )));
        }
        self.values.get(name).cloned().ok_or_else(|| {
            Error::Undefined(format!("no variable named {name:?} for this component"))
        })
    }
}

/// Spin's rule for variable names.
fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && !name.ends_with('_')
        && !name.contains("__")
}

/// Marker for `add_to_linker`: the store data projects to `&mut VariablesState`.
pub struct VariablesFactor;

impl HasData for VariablesFactor {
    type Data<'a> = &'a mut VariablesState;
}

impl wit::Host for VariablesState {
    fn convert_error(&mut self, error: Error) -> wasmtime::Result<Error> {
        Ok(error)
    }
}

impl<T> wit::HostWithStore<T> for VariablesFactor {
    async fn get(accessor: &Accessor<T, Self>, name: String) -> Result<String, Error> {
        accessor.with(|mut a| a.get().get(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_spin_rules() {
        for ok in ["a", "api_key", "openai_base_url", "k8s"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["", "Api", "1a", "_a", "a-b", "a__b", "a_", "a b"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn only_listed_variables_are_defined() {
        let state = VariablesState::new(Arc::new(BTreeMap::from([(
            "greeting".to_string(),
            "hi".to_string(),
        )])));
        assert_eq!(state.get("greeting").unwrap(), "hi");
        assert!(matches!(state.get("other"), Err(Error::Undefined(_))));
        assert!(matches!(state.get("Bad-Name"), Err(Error::InvalidName(_))));
    }
}
