//! What a call cost, from one table of list prices.
//!
//! Prices are the providers' published list prices in USD per million
//! tokens, as of **2025-11**. They change: keep [`PRICES`] current (and
//! [`PRICES_AS_OF`] with it). Where a provider prices by prompt length
//! (Gemini Pro above 200k tokens, Gemini 1.5 above 128k), the table holds
//! the short-prompt tier. Batch discounts, Anthropic cache-write surcharges
//! and DeepSeek off-peak discounts are not modelled: the cost is the list
//! price of the tokens, a close estimate rather than an invoice.

/// Prices per million tokens, in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Generated tokens.
    pub output: f64,
    /// Prompt tokens read from the provider's cache. Equal to `input` where
    /// the provider gives no cache discount.
    pub cached_input: f64,
}

/// The date [`PRICES`] was checked against the providers' pricing pages.
pub const PRICES_AS_OF: &str = "2025-11";

const fn price(input: f64, output: f64, cached_input: f64) -> Price {
    Price {
        input,
        output,
        cached_input,
    }
}

/// Model name (or name prefix, see [`price_for`]) to list price.
pub const PRICES: &[(&str, Price)] = &[
    // OpenAI
    ("gpt-4o", price(2.50, 10.00, 1.25)),
    ("gpt-4o-mini", price(0.15, 0.60, 0.075)),
    ("chatgpt-4o-latest", price(5.00, 15.00, 5.00)),
    ("gpt-4.1", price(2.00, 8.00, 0.50)),
    ("gpt-4.1-mini", price(0.40, 1.60, 0.10)),
    ("gpt-4.1-nano", price(0.10, 0.40, 0.025)),
    ("gpt-5", price(1.25, 10.00, 0.125)),
    ("gpt-5-mini", price(0.25, 2.00, 0.025)),
    ("gpt-5-nano", price(0.05, 0.40, 0.005)),
    ("o1", price(15.00, 60.00, 7.50)),
    ("o1-mini", price(1.10, 4.40, 0.55)),
    ("o3", price(2.00, 8.00, 0.50)),
    ("o3-mini", price(1.10, 4.40, 0.55)),
    ("o4-mini", price(1.10, 4.40, 0.275)),
    // Anthropic (cached = cache read)
    ("claude-3-haiku", price(0.25, 1.25, 0.03)),
    ("claude-3-5-haiku", price(0.80, 4.00, 0.08)),
    ("claude-haiku-4-5", price(1.00, 5.00, 0.10)),
    ("claude-3-5-sonnet", price(3.00, 15.00, 0.30)),
    ("claude-3-7-sonnet", price(3.00, 15.00, 0.30)),
    ("claude-sonnet-4", price(3.00, 15.00, 0.30)),
    ("claude-opus-4", price(15.00, 75.00, 1.50)),
    ("claude-opus-4-5", price(5.00, 25.00, 0.50)),
    // Google
    ("gemini-1.5-flash", price(0.075, 0.30, 0.01875)),
    ("gemini-1.5-flash-8b", price(0.0375, 0.15, 0.01)),
    ("gemini-1.5-pro", price(1.25, 5.00, 0.3125)),
    ("gemini-2.0-flash", price(0.10, 0.40, 0.025)),
    ("gemini-2.0-flash-lite", price(0.075, 0.30, 0.075)),
    ("gemini-2.5-flash", price(0.30, 2.50, 0.03)),
    ("gemini-2.5-flash-lite", price(0.10, 0.40, 0.01)),
    ("gemini-2.5-pro", price(1.25, 10.00, 0.125)),
    // DeepSeek (cached = cache hit)
    ("deepseek-chat", price(0.28, 0.42, 0.028)),
    ("deepseek-reasoner", price(0.28, 0.42, 0.028)),
    // Local dry run: free.
    ("echo", price(0.0, 0.0, 0.0)),
];

/// The price of `model`: its exact entry, else the longest entry it
/// extends at a `-` (so `gpt-4o-mini-2024-07-18` is `gpt-4o-mini`, not
/// `gpt-4o`, and `o3-mini` never matches a hypothetical `o30`). A dated or
/// preview variant with its own price needs its own entry.
pub fn price_for(model: &str) -> Option<Price> {
    PRICES
        .iter()
        .filter(|(name, _)| {
            model
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
        })
        .max_by_key(|(name, _)| name.len())
        .map(|(_, price)| *price)
}

/// The cost of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Estimated cost in USD; 0.0 when the model is not priced.
    pub usd: f64,
    /// Whether the model has a price; `false` means `usd` is not a cost.
    pub known: bool,
}

/// The list-price cost of a call. `input` counts all prompt tokens, of
/// which `cached_input` were cache reads (as in
/// [`crate::response::Completion`]): those are billed at the cached rate,
/// the rest at the input rate. `cached_input` above `input` is capped.
pub fn cost(model: &str, input: u64, output: u64, cached_input: u64) -> Cost {
    cost_at(price_for(model), input, output, cached_input)
}

/// [`cost`] at a given price (`None`: not priced), for prices that are not
/// in [`PRICES`] (a configured provider's, see [`crate::compatible`]).
pub fn cost_at(price: Option<Price>, input: u64, output: u64, cached_input: u64) -> Cost {
    let Some(price) = price else {
        return Cost {
            usd: 0.0,
            known: false,
        };
    };
    let cached = cached_input.min(input);
    let uncached = input - cached;
    let micro_usd = uncached as f64 * price.input
        + cached as f64 * price.cached_input
        + output as f64 * price.output;
    Cost {
        // Whole pico-dollars: far below any price step, and the answer reads
        // 0.0000232 rather than 0.000023199999999999998.
        usd: (micro_usd * 1_000_000.0).round() / 1e12,
        known: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_whole_picodollars() {
        // 4 input + 5 output tokens of claude-3-5-haiku: 0.8 and 4 USD/M.
        assert_eq!(
            cost("claude-3-5-haiku-latest", 4, 5, 0).usd.to_string(),
            "0.0000232"
        );
    }

    fn assert_usd(model: &str, input: u64, output: u64, cached: u64, usd: f64) {
        let c = cost(model, input, output, cached);
        assert!(c.known, "{model} should be priced");
        assert!((c.usd - usd).abs() < 1e-12, "{model}: {} != {usd}", c.usd);
    }

    #[test]
    fn exact_names() {
        assert_usd("gpt-4o", 1_000_000, 1_000_000, 0, 12.50);
        assert_usd("gpt-4o-mini", 1_000_000, 1_000_000, 0, 0.75);
        assert_usd("claude-opus-4", 1_000_000, 0, 0, 15.0);
        assert_usd("deepseek-reasoner", 0, 1_000_000, 0, 0.42);
    }

    #[test]
    fn dated_and_suffixed_names_use_the_longest_prefix() {
        let cases = [
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("gpt-4o-2024-08-06", "gpt-4o"),
            ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
            ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
            ("o3-mini-2025-01-31", "o3-mini"),
            ("o3-2025-04-16", "o3"),
            ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
            ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
            ("claude-sonnet-4-20250514", "claude-sonnet-4"),
            ("claude-opus-4-1-20250805", "claude-opus-4"),
            ("claude-opus-4-5-20251101", "claude-opus-4-5"),
            ("gemini-1.5-flash-002", "gemini-1.5-flash"),
            ("gemini-1.5-flash-8b-001", "gemini-1.5-flash-8b"),
            ("gemini-2.0-flash-001", "gemini-2.0-flash"),
            ("gemini-2.0-flash-lite-001", "gemini-2.0-flash-lite"),
            ("gemini-2.5-pro-preview-06-05", "gemini-2.5-pro"),
        ];
        for (model, entry) in cases {
            assert_eq!(price_for(model), price_for(entry), "{model}");
            assert!(price_for(model).is_some(), "{model}");
        }
        assert_ne!(price_for("gpt-4o-mini"), price_for("gpt-4o"));
    }

    #[test]
    fn a_prefix_must_end_at_a_hyphen() {
        assert_eq!(price_for("o30"), None);
        assert_eq!(price_for("gpt-4o2"), None);
        assert_eq!(price_for("echoes"), None);
    }

    #[test]
    fn cached_tokens_are_billed_at_the_cached_rate() {
        // gpt-4o: 1000 uncached at $2.50, 3000 cached at $1.25, 500 out at $10.
        assert_usd(
            "gpt-4o",
            4000,
            500,
            3000,
            (1000.0 * 2.50 + 3000.0 * 1.25 + 500.0 * 10.0) / 1e6,
        );
        // claude-sonnet-4: cache reads at a tenth of the input price.
        assert_usd(
            "claude-sonnet-4-20250514",
            2073,
            15,
            2048,
            (25.0 * 3.0 + 2048.0 * 0.30 + 15.0 * 15.0) / 1e6,
        );
        // More cached than input (a provider quirk) is capped at input.
        assert_usd("deepseek-chat", 100, 0, 500, 100.0 * 0.028 / 1e6);
    }

    #[test]
    fn unknown_models_are_not_priced() {
        for model in ["llama-3-70b", "gpt-3.5-turbo", "", "claude-2"] {
            assert_eq!(
                cost(model, 1000, 1000, 0),
                Cost {
                    usd: 0.0,
                    known: false
                },
                "{model}"
            );
        }
    }

    #[test]
    fn echo_is_free() {
        assert_eq!(
            cost("echo", 1000, 1000, 10),
            Cost {
                usd: 0.0,
                known: true
            }
        );
    }

    #[test]
    fn table_is_well_formed() {
        for (i, (name, price)) in PRICES.iter().enumerate() {
            assert!(
                PRICES[..i].iter().all(|(other, _)| other != name),
                "{name} is listed twice"
            );
            assert!(price.input >= 0.0 && price.output >= 0.0, "{name}");
            assert!(
                price.cached_input <= price.input,
                "{name}: cache costs more than input"
            );
        }
    }

    #[test]
    fn every_priced_model_routes_to_a_provider() {
        for (name, _) in PRICES {
            assert!(crate::Provider::for_model(name).is_some(), "{name}");
        }
    }
}
