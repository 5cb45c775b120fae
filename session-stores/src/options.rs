//! What the stores' options share: the checks of `validate`, whose messages name the field and
//! say what to change, and the redaction of passwords in URLs.

use std::fmt::Display;
use std::ops::RangeInclusive;

/// `` `field` must be at least {min} `` when `value` is below `min`.
pub(crate) fn at_least<T: PartialOrd + Display>(
    field: &str,
    value: T,
    min: T,
) -> Result<(), String> {
    if value < min {
        return Err(format!("`{field}` must be at least {min}"));
    }
    Ok(())
}

/// `` `field` must be {start} to {end}, got {value} `` when `value` is outside `range`.
pub(crate) fn within<T: PartialOrd + Display>(
    field: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), String> {
    if !range.contains(&value) {
        let (start, end) = range.into_inner();
        return Err(format!("`{field}` must be {start} to {end}, got {value}"));
    }
    Ok(())
}

/// The URL with any password replaced, for messages and logs.
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Implements `Debug` for a store's options as deriving it would, except that each field written
/// `field => hide` is shown as `hide(&field)`: a URL with its password hidden, say. The
/// attributes before the type go to `fmt`.
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
macro_rules! debug_hiding {
    ($(#[$attr:meta])* $options:ident { $($field:ident $(=> $hide:expr)?),* $(,)? }) => {
        impl std::fmt::Debug for $options {
            $(#[$attr])*
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($options))
                    $(.field(
                        stringify!($field),
                        &$crate::options::debug_hiding!(@shown self.$field $(, $hide)?),
                    ))*
                    .finish()
            }
        }
    };
    (@shown $value:expr) => {
        $value
    };
    (@shown $value:expr, $hide:expr) => {
        ($hide)(&$value)
    };
}
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
pub(crate) use debug_hiding;

/// `urls`, each [`redacted`].
#[cfg(feature = "redis")]
pub(crate) fn redacted_all(urls: &[String]) -> Vec<String> {
    urls.iter().map(|url| redacted(url)).collect()
}

/// One case of [`assert_each_refused`]: the text the refusal must contain, and how the case
/// changes valid options.
#[cfg(test)]
pub(crate) type RefusalCase<'a, O> = (&'a str, fn(&mut O));

/// For the stores' option tests: `valid` passes `validate`, and `valid` changed by each case's
/// function is refused with a message containing the case's text (the field it names).
#[cfg(test)]
pub(crate) fn assert_each_refused<O: Clone>(
    valid: &O,
    validate: fn(&O) -> Result<(), String>,
    cases: &[RefusalCase<'_, O>],
) {
    assert_eq!(validate(valid), Ok(()));
    for (expected, change) in cases {
        let mut options = valid.clone();
        change(&mut options);
        match validate(&options) {
            Ok(()) => panic!("options changed to break {expected} were accepted"),
            Err(message) => assert!(message.contains(expected), "{message}"),
        }
    }
}
