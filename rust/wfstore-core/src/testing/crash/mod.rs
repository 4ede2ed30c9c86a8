//! Crash states: what a power cut or a kernel crash may leave of an operation's files.
//!
//! An operation under test runs on a real folder while [`record`] keeps every file
//! operation the core issues through [`crate::storage::fsops`] (create, write at an
//! offset, truncate, rename, unlink, mkdir, rmdir, fsync of a file, fsync of a folder).
//! From the folder's state before the operation and that recording, [`states`] builds
//! the states a file system may leave after a crash at each point of the recording,
//! under two persistence models ([`Model`]); each is written out to a fresh folder and
//! checked by the operation's own rules ([`kinds`]).

mod kinds;
pub(crate) mod record;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One recorded file operation (paths relative to the recorded folder, `/`-separated;
/// files' data by inode number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// A new, empty file linked at `path` (or `path` truncated).
    Create {
        path: String,
        ino: u64,
    },
    /// `data` written at `offset`.
    Write {
        ino: u64,
        offset: u64,
        data: Vec<u8>,
    },
    /// The file's length set.
    Truncate {
        ino: u64,
        len: u64,
    },
    /// `fsync` of a file.
    Fsync {
        ino: u64,
    },
    /// `fsync` of a folder.
    FsyncDir {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Unlink {
        path: String,
    },
    Mkdir {
        path: String,
    },
    Rmdir {
        path: String,
    },
    /// A marker of the test (e.g. an operation acknowledged to its caller).
    Mark(String),
}

impl Op {
    /// Whether the operation changes a folder's entries.
    fn is_dir_op(&self) -> bool {
        matches!(
            self,
            Op::Create { .. }
                | Op::Rename { .. }
                | Op::Unlink { .. }
                | Op::Mkdir { .. }
                | Op::Rmdir { .. }
        )
    }
    fn is_data_op(&self) -> bool {
        matches!(self, Op::Write { .. } | Op::Truncate { .. })
    }
    /// The folder whose entries a folder operation changes (for a rename, the
    /// destination's).
    fn dir_of(&self) -> Option<&str> {
        let p = match self {
            Op::Create { path, .. }
            | Op::Unlink { path }
            | Op::Mkdir { path }
            | Op::Rmdir { path } => path,
            Op::Rename { to, .. } => to,
            _ => return None,
        };
        Some(p.rsplit_once('/').map(|(d, _)| d).unwrap_or(""))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    Dir,
    File(u64),
}

/// A file system in memory: names (relative paths; `""` is the root) and files' data.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fs {
    tree: BTreeMap<String, Node>,
    data: HashMap<u64, Vec<u8>>,
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

fn below<'a>(p: &'a str, dir: &str) -> Option<&'a str> {
    p.strip_prefix(dir)?.strip_prefix('/')
}

impl Fs {
    /// The folder `root` as it is on disk (files' inode numbers and data).
    pub(crate) fn snapshot(root: &Path) -> Fs {
        fn walk(root: &Path, d: &Path, fs: &mut Fs) {
            let mut kids: Vec<_> = std::fs::read_dir(d).unwrap().flatten().collect();
            kids.sort_by_key(|e| e.file_name());
            for e in kids {
                let p = e.path();
                let rel = record_rel(root, &p);
                let m = std::fs::symlink_metadata(&p).unwrap();
                if m.is_dir() {
                    fs.tree.insert(rel, Node::Dir);
                    walk(root, &p, fs);
                } else {
                    fs.tree.insert(rel, Node::File(m.ino()));
                    fs.data.insert(m.ino(), std::fs::read(&p).unwrap());
                }
            }
        }
        let mut fs = Fs::default();
        fs.tree.insert(String::new(), Node::Dir);
        walk(root, root, &mut fs);
        fs
    }

    pub(crate) fn inodes(&self) -> HashSet<u64> {
        self.data.keys().copied().collect()
    }

    fn is_dir(&self, p: &str) -> bool {
        self.tree.get(p) == Some(&Node::Dir)
    }

    /// Apply `op`; `false` (and nothing changed) when the state does not allow it
    /// (a crash state where an operation it depends on was lost).
    fn apply(&mut self, op: &Op) -> bool {
        match op {
            Op::Create { path, ino } => {
                if !self.is_dir(parent(path)) || self.is_dir(path) {
                    return false;
                }
                self.tree.insert(path.clone(), Node::File(*ino));
                self.data.insert(*ino, Vec::new());
            }
            Op::Write { ino, offset, data } => {
                let d = self.data.entry(*ino).or_default();
                let end = *offset as usize + data.len();
                if d.len() < end {
                    d.resize(end, 0);
                }
                d[*offset as usize..end].copy_from_slice(data);
            }
            Op::Truncate { ino, len } => {
                self.data.entry(*ino).or_default().resize(*len as usize, 0)
            }
            Op::Rename { from, to } => {
                let Some(node) = self.tree.get(from).copied() else {
                    return false;
                };
                if !self.is_dir(parent(to)) || from == to || below(to, from).is_some() {
                    return false;
                }
                match (node, self.tree.get(to).copied()) {
                    (Node::Dir, Some(Node::File(_))) | (Node::File(_), Some(Node::Dir)) => {
                        return false
                    }
                    (Node::Dir, Some(Node::Dir))
                        if self.tree.keys().any(|k| below(k, to).is_some()) =>
                    {
                        return false
                    }
                    _ => {}
                }
                let moved: Vec<(String, Node)> = self
                    .tree
                    .iter()
                    .filter_map(|(k, v)| below(k, from).map(|rest| (format!("{to}/{rest}"), *v)))
                    .collect();
                self.tree
                    .retain(|k, _| k != from && below(k, from).is_none());
                self.tree.insert(to.clone(), node);
                self.tree.extend(moved);
            }
            Op::Unlink { path } => {
                if !matches!(self.tree.get(path), Some(Node::File(_))) {
                    return false;
                }
                self.tree.remove(path);
            }
            Op::Mkdir { path } => {
                if !self.is_dir(parent(path)) || self.tree.contains_key(path) {
                    return false;
                }
                self.tree.insert(path.clone(), Node::Dir);
            }
            Op::Rmdir { path } => {
                if !self.is_dir(path)
                    || path.is_empty()
                    || self.tree.keys().any(|k| below(k, path).is_some())
                {
                    return false;
                }
                self.tree.remove(path);
            }
            Op::Fsync { .. } | Op::FsyncDir { .. } | Op::Mark(_) => {}
        }
        true
    }

    /// Files' inode numbers reachable from the root.
    fn reachable(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .tree
            .values()
            .filter_map(|n| match n {
                Node::File(i) => Some(*i),
                Node::Dir => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The names and contents (`None` for folders), as compared and hashed.
    pub(crate) fn contents(&self) -> BTreeMap<String, Option<Vec<u8>>> {
        self.tree
            .iter()
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| {
                let c = match v {
                    Node::Dir => None,
                    Node::File(i) => Some(self.data.get(i).cloned().unwrap_or_default()),
                };
                (k.clone(), c)
            })
            .collect()
    }

    fn digest(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.contents().hash(&mut h);
        h.finish()
    }

    /// Write the state out below the (empty) folder `root`; every file's time is set
    /// two hours back (the machine restarting after the crash: writers are gone and
    /// their journals stale).
    pub(crate) fn materialise(&self, root: &Path) {
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for (k, c) in self.contents() {
            let p = root.join(&k);
            match c {
                None => std::fs::create_dir_all(&p).unwrap(),
                Some(bytes) => {
                    std::fs::write(&p, &bytes).unwrap();
                    let f = std::fs::File::options().write(true).open(&p).unwrap();
                    f.set_modified(old).unwrap();
                }
            }
        }
    }
}

/// The folder `root` as it is on disk, as [`Fs::contents`] gives it.
pub(crate) fn disk_contents(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    Fs::snapshot(root).contents()
}

fn record_rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root)
        .unwrap()
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The persistence model a crash state is built under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    /// Close to ext4 `data=ordered`: everything before the last completed `fsync` (of
    /// any file or folder: a journal commit) persisted; after it, folder operations
    /// persist in order, as any prefix; a file's data written since may be absent, cut
    /// short, zero-filled or whole.
    Ordered,
    /// Weaker: a file's data persists up to its last `fsync`, a folder's entries up to
    /// that folder's last `fsync`; any subset of the other operations persisted (in
    /// order), the data as above.
    Weak,
}

impl Model {
    pub(crate) const ALL: [Model; 2] = [Model::Ordered, Model::Weak];
    pub(crate) fn name(self) -> &'static str {
        match self {
            Model::Ordered => "ordered",
            Model::Weak => "weak",
        }
    }
}

/// How many states to build at each crash point: all of them when there are at most
/// `cap` choices of folder operations and at most `cap` / (that number) of files'
/// data for each; otherwise as many, drawn with `seed` (the extremes always kept).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) cap: usize,
    pub(crate) seed: u64,
}

/// A small deterministic generator (xorshift64*), so that sampled runs repeat.
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What a file's data written since its last persistence point may become.
fn data_variants(base: &[u8], full: &[u8]) -> Vec<Vec<u8>> {
    let mut v = vec![base.to_vec(), full.to_vec()];
    if full.len() > base.len() + 1 && full.starts_with(base) {
        // cut short: half the new bytes
        v.push(full[..base.len() + (full.len() - base.len()) / 2].to_vec());
    }
    // the new length, the bytes not persisted read as zeros
    let mut z = full.to_vec();
    for (i, b) in z.iter_mut().enumerate() {
        if base.get(i) != Some(b) {
            *b = 0;
        }
    }
    v.push(z);
    // cut short of a rewrite, zero-filled up to the new length
    v.sort();
    v.dedup();
    v
}

/// A crash state: the file system, and whether the marker `acked` was recorded
/// before the crash point (the operation returned to its caller).
pub(crate) struct State {
    pub(crate) fs: Fs,
    pub(crate) acked: bool,
    pub(crate) describe: String,
}

/// Every crash state (distinct by content) that `model` allows for a crash after each
/// prefix of `ops` applied to `initial`, as sampled by `budget`; `visit` is called on
/// each and its count returned.
pub(crate) fn states(
    initial: &Fs,
    ops: &[Op],
    model: Model,
    budget: Budget,
    mut visit: impl FnMut(State),
) -> usize {
    let mut seen: HashSet<(u64, bool)> = HashSet::new();
    let mut rng = Rng::new(budget.seed);
    for t in 0..=ops.len() {
        let done = &ops[..t];
        let acked = done
            .iter()
            .any(|o| matches!(o, Op::Mark(m) if m == "acked"));
        // which operations persist for sure, and which may or may not
        let (forced, free): (Vec<bool>, Vec<usize>) = match model {
            Model::Ordered => {
                let b = done
                    .iter()
                    .rposition(|o| matches!(o, Op::Fsync { .. } | Op::FsyncDir { .. }))
                    .map_or(0, |i| i + 1);
                let forced = (0..t).map(|i| i < b).collect();
                let free = (b..t).filter(|&i| done[i].is_dir_op()).collect();
                (forced, free)
            }
            Model::Weak => {
                let forced: Vec<bool> = (0..t)
                    .map(|i| {
                        let later = &done[i + 1..];
                        match &done[i] {
                            Op::Write { ino, .. } | Op::Truncate { ino, .. } => later
                                .iter()
                                .any(|o| matches!(o, Op::Fsync { ino: j } if j == ino)),
                            o if o.is_dir_op() => {
                                let d = o.dir_of().unwrap_or("");
                                later
                                    .iter()
                                    .any(|o| matches!(o, Op::FsyncDir { path } if path == d))
                            }
                            _ => true,
                        }
                    })
                    .collect();
                let free = (0..t)
                    .filter(|&i| !forced[i] && done[i].is_dir_op())
                    .collect();
                (forced, free)
            }
        };
        // the choices of free folder operations: prefixes (ordered) or subsets (weak)
        let choices: Vec<Vec<bool>> = {
            let m = free.len();
            let all: usize = match model {
                Model::Ordered => m + 1,
                Model::Weak => 1usize.checked_shl(m as u32).unwrap_or(usize::MAX),
            };
            let pick = |c: usize| -> Vec<bool> {
                (0..m)
                    .map(|j| match model {
                        Model::Ordered => j < c,
                        Model::Weak => c >> j & 1 == 1,
                    })
                    .collect()
            };
            if all <= budget.cap {
                (0..all).map(pick).collect()
            } else {
                let mut v: Vec<Vec<bool>> = vec![vec![true; m], vec![false; m]];
                for _ in 2..budget.cap {
                    v.push(match model {
                        Model::Ordered => pick(rng.below(m + 1)),
                        Model::Weak => (0..m).map(|_| rng.next() & 1 == 1).collect(),
                    });
                }
                v
            }
        };
        // the data each file has when all of it persists
        let mut full = initial.clone();
        for o in done {
            full.apply(o);
        }
        let n_choices = choices.len();
        for choice in choices {
            let mut chosen = vec![false; t];
            for (j, &i) in free.iter().enumerate() {
                chosen[i] = choice[j];
            }
            // folders as chosen, data as persisted for sure
            let mut fs = initial.clone();
            let mut touched: HashSet<u64> = HashSet::new();
            for (i, o) in done.iter().enumerate() {
                if o.is_data_op() {
                    let ino = match o {
                        Op::Write { ino, .. } | Op::Truncate { ino, .. } => *ino,
                        _ => unreachable!(),
                    };
                    if forced[i] {
                        fs.apply(o);
                    } else {
                        touched.insert(ino);
                    }
                } else if forced[i] || chosen[i] {
                    fs.apply(o);
                }
            }
            let files: Vec<u64> = fs
                .reachable()
                .into_iter()
                .filter(|i| touched.contains(i))
                .collect();
            let variants: Vec<Vec<Vec<u8>>> = files
                .iter()
                .map(|i| {
                    let base = fs.data.get(i).cloned().unwrap_or_default();
                    let whole = full.data.get(i).cloned().unwrap_or_default();
                    data_variants(&base, &whole)
                })
                .collect();
            let count: usize = variants
                .iter()
                .try_fold(1usize, |a, v| a.checked_mul(v.len()))
                .unwrap_or(usize::MAX);
            // the crash point's budget is shared between the choices of folders
            let data_cap = (budget.cap / n_choices).max(2);
            let combos: Vec<Vec<usize>> = if count <= data_cap {
                (0..count)
                    .map(|mut c| {
                        variants
                            .iter()
                            .map(|v| {
                                let k = c % v.len();
                                c /= v.len();
                                k
                            })
                            .collect()
                    })
                    .collect()
            } else {
                let mut v: Vec<Vec<usize>> = vec![
                    variants.iter().map(|_| 0).collect(),
                    variants.iter().map(|v| v.len() - 1).collect(),
                ];
                for _ in 2..data_cap {
                    v.push(variants.iter().map(|x| rng.below(x.len())).collect());
                }
                v
            };
            for combo in combos {
                let mut s = fs.clone();
                for ((ino, vs), k) in files.iter().zip(&variants).zip(&combo) {
                    s.data.insert(*ino, vs[*k].clone());
                }
                if seen.insert((s.digest(), acked)) {
                    let describe = format!(
                        "{} model, crash after {t} of {} operations, folder operations kept {:?} of {:?}, data variants {:?} of files {:?}",
                        model.name(),
                        ops.len(),
                        free.iter().zip(&choice).filter(|(_, &c)| c).map(|(i, _)| *i).collect::<Vec<_>>(),
                        free,
                        combo,
                        files
                    );
                    visit(State {
                        fs: s,
                        acked,
                        describe,
                    });
                }
            }
        }
    }
    seen.len()
}
