//! What the configuration tests share: an example configuration, once it names the test's
//! servers, builds a manager that writes a session.

/// `example` with every list after `urls = ` replaced by the comma-separated `urls`, each
/// quoted; asserts that the example has such a list.
pub fn naming_urls(example: &str, urls: &str) -> String {
    let list = urls
        .split(',')
        .map(|url| format!("{url:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = example
        .lines()
        .map(|line| match line.find("urls = [") {
            Some(start) => {
                let end = line[start..]
                    .find(']')
                    .map_or(line.len(), |end| start + end + 1);
                format!("{}urls = [{list}]{}", &line[..start], &line[end..])
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains(&list),
        "the example lists its servers as `urls = [...]`"
    );
    text
}

/// Builds the manager `config` describes, with every store type of `session_stores::registry`,
/// and writes a session through it: the `app` cookie comes back.
pub async fn writes_a_session(config: &str) {
    let headers = session_stores::testing::configured_session_write(config)
        .await
        .unwrap();
    assert!(headers[0].value().starts_with("app_session="));
}
