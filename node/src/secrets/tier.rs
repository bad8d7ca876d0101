//! The sensitivity tier as the node stores and replicates it.
//!
//! The wire crate has its own [`ass_client::types::Tier`]; this one is the node's, so that a
//! change to the wire type is never silently a change to the Raft log or sled. The two convert
//! at the HTTP edge. Variants keep their order for ever: postcard encodes a variant by its
//! index, and the order is also the tier's rank (`Standard < Sensitive < Critical`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Sensitivity tier of a secret version; the approval policy says what each needs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Standard,
    Sensitive,
    Critical,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        self.wire().as_str()
    }

    /// The wire form, for answers.
    pub fn wire(self) -> ass_client::types::Tier {
        match self {
            Tier::Standard => ass_client::types::Tier::Standard,
            Tier::Sensitive => ass_client::types::Tier::Sensitive,
            Tier::Critical => ass_client::types::Tier::Critical,
        }
    }

    /// Whether reading a secret of this tier can need an approval under some policy.
    pub fn is_gated(self) -> bool {
        self > Tier::Standard
    }
}

impl From<ass_client::types::Tier> for Tier {
    fn from(t: ass_client::types::Tier) -> Self {
        match t {
            ass_client::types::Tier::Standard => Tier::Standard,
            ass_client::types::Tier::Sensitive => Tier::Sensitive,
            ass_client::types::Tier::Critical => Tier::Critical,
        }
    }
}

impl From<Tier> for ass_client::types::Tier {
    fn from(t: Tier) -> Self {
        t.wire()
    }
}

impl std::str::FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<ass_client::types::Tier>().map(Tier::from)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Tier; 3] = [Tier::Standard, Tier::Sensitive, Tier::Critical];

    #[test]
    fn stored_bytes_are_those_earlier_releases_wrote_with_the_wire_type() {
        // Log entries and records written before this type existed carried the wire type.
        for t in ALL {
            let ours = postcard::to_allocvec(&t).unwrap();
            let theirs = postcard::to_allocvec(&t.wire()).unwrap();
            assert_eq!(ours, theirs, "{t}");
            assert_eq!(postcard::from_bytes::<Tier>(&theirs).unwrap(), t);
            // JSON too (peer RPC bodies and snapshots that carry commands).
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, serde_json::to_string(&t.wire()).unwrap());
        }
    }

    #[test]
    fn order_is_rank_and_conversions_round_trip() {
        assert!(Tier::Standard < Tier::Sensitive && Tier::Sensitive < Tier::Critical);
        for t in ALL {
            assert_eq!(Tier::from(t.wire()), t);
            assert_eq!(t.as_str(), t.wire().as_str());
        }
        assert!(!Tier::Standard.is_gated() && Tier::Sensitive.is_gated());
    }
}
