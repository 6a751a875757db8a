//! List parameters and `nextToken`s.
//!
//! Lists are in creation order. A token names the creation sequence number of the last item of
//! the page (see [`crate::repo`]), so it stays valid and means the same thing however the list
//! changes meanwhile; it is opaque to clients (base64url), and a token of one list is refused by
//! another. `nextToken` is omitted on the last page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ApiError, ApiResult};

/// Page size when `maxResults` is absent.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest accepted `maxResults` (model: `MaxResults` min 1, max 1000).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Which list a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    PackagingGroups,
    PackagingConfigurations,
    Assets,
}

impl ListKind {
    fn tag(self) -> &'static str {
        match self {
            ListKind::PackagingGroups => "g",
            ListKind::PackagingConfigurations => "c",
            ListKind::Assets => "a",
        }
    }
}

/// Parsed query of a List operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub max_results: u32,
    pub after_seq: i64,
    pub packaging_group_id: Option<String>,
}

/// The `nextToken` of a page: present only when more items follow.
pub fn next_token<T>(kind: ListKind, page: &crate::repo::Page<T>) -> Option<String> {
    match (page.more, page.items.last()) {
        (true, Some((seq, _))) => Some(encode_token(kind, *seq)),
        _ => None,
    }
}

pub fn encode_token(kind: ListKind, seq: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("vodpack:1:{}:{seq}", kind.tag()))
}

fn decode_token(kind: ListKind, token: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let rest = text.strip_prefix("vodpack:1:")?;
    let (tag, seq) = rest.split_once(':')?;
    if tag != kind.tag() {
        return None;
    }
    seq.parse::<i64>().ok().filter(|s| *s >= 0)
}

/// Reads `maxResults`, `nextToken` and (where the operation has it) `packagingGroupId`.
pub fn parse(raw_query: Option<&str>, kind: ListKind, group_filter: bool) -> ApiResult<ListParams> {
    let mut params = ListParams {
        max_results: DEFAULT_PAGE_SIZE,
        after_seq: 0,
        packaging_group_id: None,
    };
    for (key, value) in form_urlencoded::parse(raw_query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "maxResults" => {
                let n: i64 = value.trim().parse().map_err(|_| {
                    ApiError::unprocessable(format!("maxResults '{value}' is not an integer"))
                })?;
                if !(1..=i64::from(MAX_PAGE_SIZE)).contains(&n) {
                    return Err(ApiError::unprocessable(format!(
                        "maxResults must be between 1 and {MAX_PAGE_SIZE}; got {n}"
                    )));
                }
                params.max_results = n as u32;
            }
            "nextToken" if !value.is_empty() => {
                params.after_seq = decode_token(kind, &value).ok_or_else(|| {
                    ApiError::unprocessable("nextToken is not a token this list handed out")
                })?;
            }
            "packagingGroupId" if group_filter && !value.is_empty() => {
                params.packaging_group_id = Some(value.into_owned());
            }
            _ => {}
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_list_specific() {
        let t = encode_token(ListKind::Assets, 42);
        assert_eq!(decode_token(ListKind::Assets, &t), Some(42));
        assert_eq!(decode_token(ListKind::PackagingGroups, &t), None);
        assert_eq!(decode_token(ListKind::Assets, "garbage!"), None);
    }

    #[test]
    fn max_results_bounds() {
        assert!(parse(Some("maxResults=0"), ListKind::Assets, true).is_err());
        assert!(parse(Some("maxResults=1001"), ListKind::Assets, true).is_err());
        assert!(parse(Some("maxResults=abc"), ListKind::Assets, true).is_err());
        let p = parse(
            Some("maxResults=1000&packagingGroupId=g"),
            ListKind::Assets,
            true,
        )
        .unwrap();
        assert_eq!(p.max_results, 1000);
        assert_eq!(p.packaging_group_id.as_deref(), Some("g"));
        assert_eq!(
            parse(None, ListKind::Assets, true).unwrap().max_results,
            DEFAULT_PAGE_SIZE
        );
    }
}
