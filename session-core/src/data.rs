//! [`Data`], a session's values: a list of keys and JSON text, kept in key order.
//!
//! A session holds a handful to a few hundred values, read and written a few at a time, and is
//! decoded whole from a form that is already in key order. For that, a sorted list searched by
//! halves beats a tree: decoding builds it without sorting or comparing keys again, a lookup
//! compares a few keys instead of walking a node's keys one by one, and dropping it frees one
//! buffer. Changing many keys at once ([`Delta::apply`](crate::Delta::apply)) merges them in one
//! pass rather than inserting one by one.

use std::fmt;
use std::ops::Index;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::record::{DataKey, RawJson};

/// A session's values: keys to JSON text, in key order, each key once.
///
/// The map operations of a `BTreeMap<DataKey, RawJson>`, looked up by `&str`. A lookup takes
/// a search by halves; an insert of a new key shifts the keys after it, which for the tens of
/// values a session holds costs less than a tree's node. To build one from many values, collect
/// them (`FromIterator` sorts once) rather than inserting them one by one out of order.
///
/// ```
/// use session_core::{Data, RawJson};
///
/// let mut data = Data::new();
/// data.insert("user".into(), RawJson::to_json("alice")?);
/// data.insert("cart".into(), RawJson::to_json(&[1, 2])?);
/// assert_eq!(data.get("user").map(RawJson::get), Some(r#""alice""#));
/// assert_eq!(data.keys().map(|key| key.as_str()).collect::<Vec<_>>(), ["cart", "user"]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Data {
    /// Strictly increasing keys.
    entries: Vec<(DataKey, RawJson)>,
}

impl Data {
    /// No values.
    pub fn new() -> Self {
        Data::default()
    }

    /// Entries whose keys are strictly increasing already (as decoding checks them).
    pub(crate) fn from_sorted(entries: Vec<(DataKey, RawJson)>) -> Self {
        debug_assert!(entries.windows(2).all(|pair| pair[0].0 < pair[1].0));
        Data { entries }
    }

    /// Where `key` is, or where it would go.
    fn search(&self, key: &str) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(held, _)| held.as_str().cmp(key))
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&RawJson> {
        self.search(key).ok().map(|at| &self.entries[at].1)
    }

    /// The value of `key`, to change in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut RawJson> {
        self.search(key).ok().map(|at| &mut self.entries[at].1)
    }

    /// Whether `key` holds a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.search(key).is_ok()
    }

    /// Sets `key` to `value`; the value it held, if any.
    pub fn insert(&mut self, key: DataKey, value: RawJson) -> Option<RawJson> {
        match self.search(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.entries.insert(at, (key, value));
                None
            }
        }
    }

    /// Sets `key` to `value` unless it holds `value` already; the value it held, if any, and
    /// whether anything changed. One search for both.
    pub(crate) fn replace(&mut self, key: DataKey, value: RawJson) -> (Option<RawJson>, bool) {
        match self.search(&key) {
            Ok(at) if self.entries[at].1 == value => (None, false),
            Ok(at) => (
                Some(std::mem::replace(&mut self.entries[at].1, value)),
                true,
            ),
            Err(at) => {
                self.entries.insert(at, (key, value));
                (None, true)
            }
        }
    }

    /// Removes `key`; the value it held, if any.
    pub fn remove(&mut self, key: &str) -> Option<RawJson> {
        self.search(key).ok().map(|at| self.entries.remove(at).1)
    }

    /// Keeps the values for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&DataKey, &mut RawJson) -> bool) {
        self.entries.retain_mut(|(key, value)| keep(key, value));
    }

    /// The values in key order.
    pub fn iter(&self) -> DataIter<'_> {
        DataIter {
            entries: self.entries.iter(),
        }
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &DataKey> + ExactSizeIterator {
        self.entries.iter().map(|(key, _)| key)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &RawJson> + ExactSizeIterator {
        self.entries.iter().map(|(_, value)| value)
    }

    /// Sets each key in `changes` and removes each in `removed` (a removal first, so a key in
    /// both ends up set; of a key set twice, the last value stays), in one pass over the values
    /// when there are many changes.
    pub(crate) fn apply(&mut self, removed: &[DataKey], changes: &[(DataKey, RawJson)]) {
        for key in removed {
            self.remove(key);
        }
        // A few changes go in one by one; many are merged, so that a large delta on a large
        // session costs one pass, not one shift of the list per key. Both ways give the same
        // values, so the threshold (or `>` for its `<=`) changes only the cost.
        if changes.len() <= 8 {
            for (key, value) in changes {
                self.insert(key.clone(), value.clone());
            }
            return;
        }
        let mut sorted: Vec<(DataKey, RawJson)> = changes.to_vec();
        // Stable, so that of a key set twice the later change comes last and wins below.
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let held = std::mem::take(&mut self.entries);
        let mut merged = Vec::with_capacity(held.len() + sorted.len());
        let mut held = held.into_iter().peekable();
        let mut sorted = sorted.into_iter().peekable();
        while let Some((key, value)) = sorted.next() {
            if sorted.peek().is_some_and(|(next, _)| *next == key) {
                continue;
            }
            while let Some(entry) = held.next_if(|(held, _)| *held < key) {
                merged.push(entry);
            }
            held.next_if(|(held, _)| *held == key);
            merged.push((key, value));
        }
        merged.extend(held);
        self.entries = merged;
    }
}

/// The values of a [`Data`] in key order.
#[derive(Clone, Debug)]
pub struct DataIter<'a> {
    entries: std::slice::Iter<'a, (DataKey, RawJson)>,
}

impl<'a> Iterator for DataIter<'a> {
    type Item = (&'a DataKey, &'a RawJson);

    fn next(&mut self) -> Option<Self::Item> {
        self.entries.next().map(|(key, value)| (key, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl DoubleEndedIterator for DataIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.entries.next_back().map(|(key, value)| (key, value))
    }
}

impl ExactSizeIterator for DataIter<'_> {}

impl<'a> IntoIterator for &'a Data {
    type Item = (&'a DataKey, &'a RawJson);
    type IntoIter = DataIter<'a>;

    fn into_iter(self) -> DataIter<'a> {
        self.iter()
    }
}

impl IntoIterator for Data {
    type Item = (DataKey, RawJson);
    type IntoIter = std::vec::IntoIter<(DataKey, RawJson)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(DataKey, RawJson)> for Data {
    /// Of a key given twice, the last value stays (as with [`insert`](Data::insert)).
    fn from_iter<I: IntoIterator<Item = (DataKey, RawJson)>>(entries: I) -> Self {
        let mut entries: Vec<_> = entries.into_iter().collect();
        if entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            return Data { entries };
        }
        // Stable, so that the later of two equal keys comes last.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(DataKey, RawJson)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match unique.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => unique.push(entry),
            }
        }
        Data { entries: unique }
    }
}

impl Extend<(DataKey, RawJson)> for Data {
    fn extend<I: IntoIterator<Item = (DataKey, RawJson)>>(&mut self, entries: I) {
        for (key, value) in entries {
            self.insert(key, value);
        }
    }
}

impl<const N: usize> From<[(DataKey, RawJson); N]> for Data {
    fn from(entries: [(DataKey, RawJson); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl Index<&str> for Data {
    type Output = RawJson;

    /// The value of `key`.
    ///
    /// # Panics
    ///
    /// When `key` holds no value; [`get`](Data::get) is the check.
    fn index(&self, key: &str) -> &RawJson {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no session value under the key {key:?}"),
        }
    }
}

impl fmt::Debug for Data {
    /// The keys, and for each value its length (never its text, which may be secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Values;

        impl<'de> Visitor<'de> for Values {
            type Value = Data;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of session values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
                // The size hint comes from the input: bounded, so that it reserves no more than
                // the input could hold.
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(entries.into_iter().collect())
            }
        }

        deserializer.deserialize_map(Values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn raw(text: &str) -> RawJson {
        RawJson::to_json(text).unwrap()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(String, String),
        Remove(String),
        Apply(Vec<String>, Vec<(String, String)>),
        Retain(String),
        Clear,
    }

    fn key() -> impl Strategy<Value = String> {
        "[a-d]{0,2}|[a-z_é]{20,26}"
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (key(), "[a-z]{0,30}").prop_map(|(k, v)| Op::Insert(k, v)),
            2 => key().prop_map(Op::Remove),
            2 => (
                proptest::collection::vec(key(), 0..4),
                proptest::collection::vec((key(), "[a-z]{0,5}"), 0..20),
            )
                .prop_map(|(removed, changed)| Op::Apply(removed, changed)),
            1 => key().prop_map(Op::Retain),
            1 => Just(Op::Clear),
        ]
    }

    fn same(data: &Data, model: &BTreeMap<String, String>) -> Result<(), TestCaseError> {
        let held: Vec<(String, String)> = data
            .iter()
            .map(|(key, value)| (key.to_string(), value.get().to_string()))
            .collect();
        let expected: Vec<(String, String)> = model
            .iter()
            .map(|(key, value)| (key.clone(), raw(value).get().to_string()))
            .collect();
        prop_assert_eq!(held, expected);
        prop_assert_eq!(data.len(), model.len());
        prop_assert_eq!(data.is_empty(), model.is_empty());
        Ok(())
    }

    proptest! {
        #[test]
        fn data_behaves_as_an_ordered_map(ops in proptest::collection::vec(op(), 0..40)) {
            let mut data = Data::new();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(key, value) => {
                        let before = data.insert(key.as_str().into(), raw(&value));
                        let expected = model.insert(key, value);
                        prop_assert_eq!(before.map(|v| v.get().to_string()),
                            expected.map(|v| raw(&v).get().to_string()));
                    }
                    Op::Remove(key) => {
                        let removed = data.remove(&key);
                        prop_assert_eq!(removed.is_some(), model.remove(&key).is_some());
                        prop_assert!(!data.contains_key(&key));
                    }
                    Op::Apply(removed, changed) => {
                        let removed_keys: Vec<DataKey> =
                            removed.iter().map(|key| key.as_str().into()).collect();
                        let changes: Vec<(DataKey, RawJson)> = changed
                            .iter()
                            .map(|(key, value)| (key.as_str().into(), raw(value)))
                            .collect();
                        data.apply(&removed_keys, &changes);
                        for key in &removed {
                            model.remove(key);
                        }
                        for (key, value) in changed {
                            model.insert(key, value);
                        }
                    }
                    Op::Retain(cut) => {
                        data.retain(|key, _| key.as_str() < cut.as_str());
                        model.retain(|key, _| key.as_str() < cut.as_str());
                    }
                    Op::Clear => {
                        data.clear();
                        model.clear();
                    }
                }
                same(&data, &model)?;
                for key in model.keys() {
                    prop_assert_eq!(data.get(key).map(|v| v.get().to_string()),
                        Some(raw(&model[key]).get().to_string()));
                }
            }
            let collected: Data = data.iter().rev()
                .map(|(key, value)| (key.clone(), value.clone())).collect();
            prop_assert_eq!(&collected, &data);
            let text = serde_json::to_string(&data).unwrap();
            let back: Data = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(back, data);
        }
    }

    #[test]
    fn of_a_key_given_twice_the_last_value_stays() {
        let data: Data = [
            ("b".into(), raw("1")),
            ("a".into(), raw("2")),
            ("b".into(), raw("3")),
        ]
        .into();
        assert_eq!(data.len(), 2);
        assert_eq!(data["b"], raw("3"));
        let parsed: Data = serde_json::from_str(r#"{"k":"x","j":"y","k":"z"}"#).unwrap();
        assert_eq!(parsed.get("k"), Some(&raw("z")));
        assert_eq!(
            parsed.keys().map(|key| key.as_str()).collect::<Vec<_>>(),
            ["j", "k"]
        );
    }

    #[test]
    fn sorted_input_with_a_key_given_twice_keeps_the_last_value() {
        for keys in [&["a", "a"][..], &["a", "b", "b"], &["a", "b", "b", "c"]] {
            let data: Data = keys
                .iter()
                .enumerate()
                .map(|(n, key)| (DataKey::from(*key), raw(&n.to_string())))
                .collect();
            let unique: Vec<&str> = data.keys().map(|key| key.as_str()).collect();
            let mut expected = keys.to_vec();
            expected.dedup();
            assert_eq!(unique, expected);
            let last = keys.len() - 1;
            assert_eq!(data[keys[last]], raw(&last.to_string()));
        }
    }

    #[test]
    fn iterating_counts_moves_and_extends() {
        let mut data: Data = [("b".into(), raw("1")), ("a".into(), raw("2"))].into();
        assert_eq!(data.iter().len(), 2);
        assert_eq!(data.keys().len(), 2);
        assert_eq!(data.values().len(), 2);
        data.extend([("c".into(), raw("3")), ("a".into(), raw("4"))]);
        assert_eq!(data.iter().size_hint(), (3, Some(3)));
        let owned: Vec<(DataKey, RawJson)> = data.clone().into_iter().collect();
        assert_eq!(
            owned,
            [
                ("a".into(), raw("4")),
                ("b".into(), raw("1")),
                ("c".into(), raw("3"))
            ]
        );
        assert_eq!(
            data.iter().next_back().map(|(key, _)| key.as_str()),
            Some("c")
        );
    }

    #[test]
    fn what_is_not_a_map_of_values_is_refused_by_name() {
        let error = serde_json::from_str::<Data>("[1]").unwrap_err();
        assert!(
            error.to_string().contains("a map of session values"),
            "{error}"
        );
    }

    #[test]
    fn replace_reports_whether_anything_changed() {
        let mut data = Data::new();
        assert_eq!(data.replace("k".into(), raw("1")), (None, true));
        assert_eq!(data.replace("k".into(), raw("1")), (None, false));
        assert_eq!(data.replace("k".into(), raw("2")), (Some(raw("1")), true));
        assert_eq!(data["k"], raw("2"));
    }

    #[test]
    fn debug_shows_keys_and_lengths_not_values() {
        let data: Data = [("token".into(), raw("s3cr3t"))].into();
        let printed = format!("{data:?}");
        assert!(printed.contains("token"), "{printed}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
    }

    #[test]
    #[should_panic(expected = "no session value under the key \"absent\"")]
    fn indexing_a_missing_key_panics_with_its_name() {
        let _ = &Data::new()["absent"];
    }
}
