//! The row of a run (an element action run, "EAR") in a Zarr store's `metadata/runs`
//! array, as the engine's `ZarrStoreEAR.encode` writes it: a msgpack array of
//! [`RUN_ROW`]'s fields in that order. `data_idx` is stored as
//! `[[parameter path index, parameter ID], ...]` (indices into the array's lookup list
//! of parameter paths); `start_time` and `end_time` are nil or strings in the store's
//! timestamp format ([`DEFAULT_TS_FORMAT`] unless the store says otherwise).

/// What a field of a run row holds, for decoders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunField {
    /// A plain msgpack value.
    Plain,
    /// `[[parameter path index, parameter ID], ...]`, read as `{path: ID}`.
    DataIdx,
    /// Nil or a timestamp string.
    Timestamp,
    /// A list of command indices.
    CommandsIdx,
}

/// The fields of a run row, in row order: (name, kind).
pub const RUN_ROW: [(&str, RunField); 15] = [
    ("id_", RunField::Plain),
    ("elem_iter_ID", RunField::Plain),
    ("action_idx", RunField::Plain),
    ("data_idx", RunField::DataIdx),
    ("submission_idx", RunField::Plain),
    ("skip", RunField::Plain),
    ("success", RunField::Plain),
    ("start_time", RunField::Timestamp),
    ("end_time", RunField::Timestamp),
    ("snapshot_start", RunField::Plain),
    ("snapshot_end", RunField::Plain),
    ("exit_code", RunField::Plain),
    ("metadata", RunField::Plain),
    ("run_hostname", RunField::Plain),
    ("commands_idx", RunField::CommandsIdx),
];

/// The position of the field `name` in a run row.
pub fn run_field_position(name: &str) -> Option<usize> {
    RUN_ROW.iter().position(|(n, _)| *n == name)
}

/// The engine's default timestamp format (`strftime`), which the core parses itself.
pub const DEFAULT_TS_FORMAT: &str = "%Y-%m-%d %H:%M:%S.%f";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_layout_is_the_engines() {
        let names: Vec<&str> = RUN_ROW.iter().map(|(n, _)| *n).collect();
        assert_eq!(names.len(), 15);
        assert_eq!(run_field_position("id_"), Some(0));
        assert_eq!(run_field_position("data_idx"), Some(3));
        assert_eq!(run_field_position("start_time"), Some(7));
        assert_eq!(run_field_position("commands_idx"), Some(14));
        assert_eq!(run_field_position("is_pending"), None);
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }
}
