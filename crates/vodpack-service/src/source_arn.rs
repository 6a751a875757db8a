//! `sourceArn`: the one parser of the S3 object ARNs assets name their sources by. The API
//! checks CreateAsset's member with it, ingest and egress turn a stored ARN into the object to
//! read with it, and `vodpack inspect`/`package` read theirs through it.

use crate::resources::{is_account, is_partition};
use crate::storage::ObjectRef;

/// The bucket and key of a source ARN: `arn:aws:s3:::BUCKET/KEY` or
/// `arn:aws:s3::ACCOUNT:BUCKET/KEY`. The error is the reason, worded for the API's 422.
pub fn parse(value: &str) -> Result<(String, String), String> {
    let parsed = (|| {
        let rest = value.strip_prefix("arn:")?;
        let (partition, rest) = rest.split_once(':')?;
        let rest = rest.strip_prefix("s3:")?;
        let (region, rest) = rest.split_once(':')?;
        let (account, object) = rest.split_once(':')?;
        if !is_partition(partition)
            || !region.is_empty()
            || !(account.is_empty() || is_account(account))
        {
            return None;
        }
        let (bucket, key) = object.split_once('/')?;
        Some((bucket.to_string(), key.to_string()))
    })();
    let (bucket, key) = parsed.ok_or_else(|| {
        format!("sourceArn '{value}' is not an S3 object ARN (arn:aws:s3:::BUCKET/KEY)")
    })?;
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && bucket.as_bytes()[0].is_ascii_alphanumeric()
        && bucket.as_bytes()[bucket.len() - 1].is_ascii_alphanumeric();
    if !bucket_ok {
        return Err(format!(
            "sourceArn: '{bucket}' is not a valid bucket name (3-63 lowercase letters, digits, '.', '-')"
        ));
    }
    if key.is_empty() || key.len() > 1024 {
        return Err("sourceArn: the object key must be 1 to 1024 bytes long".to_string());
    }
    Ok((bucket, key))
}

/// The object a `sourceArn` names (its key normalised by the storage rules).
pub fn source_object(source_arn: &str) -> Result<ObjectRef, String> {
    let (bucket, key) = parse(source_arn)?;
    ObjectRef::new(&bucket, &key).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_arns() {
        assert_eq!(
            parse("arn:aws:s3:::bucket/a/b.smil").unwrap(),
            ("bucket".into(), "a/b.smil".into())
        );
        assert!(parse("arn:aws:s3::111122223333:video-bucket/A/x.smil").is_ok());
        assert!(parse("arn:aws:s3:::bucket").is_err());
        assert!(parse("arn:aws:s3:us-east-1::bucket/k").is_err());
        assert!(parse("s3://bucket/key").is_err());
        assert!(parse("arn:aws:s3:::Bucket/key").is_err());
        assert!(source_object("arn:aws:s3:::bucket/a/../../x").is_err());
    }
}
