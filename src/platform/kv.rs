//! KV listings.

/// Every key under `prefix` in `kv`, listing at most `max_pages` pages (1,000 keys each);
/// `false` with the keys when there were more.
pub async fn keys(
    kv: &worker::kv::KvStore,
    prefix: &str,
    max_pages: usize,
) -> Result<(Vec<worker::kv::Key>, bool), String> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages {
        let mut list = kv.list().prefix(prefix.to_string());
        if let Some(cursor) = cursor.take() {
            list = list.cursor(cursor);
        }
        let page = list.execute().await.map_err(|e| e.to_string())?;
        keys.extend(page.keys);
        if page.list_complete {
            return Ok((keys, true));
        }
        cursor = page.cursor;
    }
    Ok((keys, false))
}
