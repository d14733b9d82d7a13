//! `{{ name }}` templates, parsed exactly like Spin's `spin_expressions::Template`:
//! text up to `{{` is literal, the expression runs to the next `}}` and is
//! trimmed, an unmatched `{{` is an error, and a lone `}}` is literal text.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part<'a> {
    Lit(&'a str),
    Expr(&'a str),
}

pub(crate) fn parse(template: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            let Some((expr, tail)) = after.split_once("}}") else {
                return Err("unmatched '{{' in template".into());
            };
            parts.push(Part::Expr(expr.trim()));
            rest = tail;
        } else if let Some(idx) = rest.find("{{") {
            parts.push(Part::Lit(&rest[..idx]));
            rest = &rest[idx..];
        } else {
            parts.push(Part::Lit(rest));
            rest = "";
        }
    }
    Ok(parts)
}

/// The variable names a template refers to, in order.
pub(crate) fn names(template: &str) -> Result<Vec<&str>, String> {
    Ok(parse(template)?
        .into_iter()
        .filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Lit(_) => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(parse("a").unwrap(), vec![Part::Lit("a")]);
        assert_eq!(
            parse("a-{{ expr }}-b").unwrap(),
            vec![Part::Lit("a-"), Part::Expr("expr"), Part::Lit("-b")]
        );
        assert_eq!(
            parse("{{expr1}}{{ expr2 }}").unwrap(),
            vec![Part::Expr("expr1"), Part::Expr("expr2")]
        );
        assert_eq!(parse("a }} b").unwrap(), vec![Part::Lit("a }} b")]);
    }

    #[test]
    fn unmatched_is_an_error() {
        parse("{{ matched }} {{ unmatched").unwrap_err();
        parse("{{").unwrap_err();
    }

    #[test]
    fn names_in_order() {
        assert_eq!(
            names("https://{{ host }}:{{port}}/").unwrap(),
            vec!["host", "port"]
        );
        assert!(names("plain").unwrap().is_empty());
    }
}
