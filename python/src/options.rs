//! The options of a `Pool`: Python values checked (with messages that name
//! the option) and turned into the library's builder, and back into plain
//! Python values for pickling and `repr`.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use sandmap::{CompileCache, DirGrant, Order, PluginSource, PoolBuilder};

/// Where compiled plugins are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cache {
    /// The user's cache (`$SANDMAP_CACHE_DIR`, else `~/.cache/sandmap`).
    User,
    /// No cache: compile every time.
    Off,
    /// A cache in this directory.
    Dir(PathBuf),
}

/// Every option of a pool but the plugin, checked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (`None`: one per core).
    pub jobs: Option<usize>,
    /// Fuel per record.
    pub fuel: Option<u64>,
    /// Wall-clock limit per record.
    pub timeout: Option<Duration>,
    /// Memory cap per instance, in bytes.
    pub max_memory: Option<u64>,
    /// Output cap per record, in bytes.
    pub max_output: Option<u64>,
    /// A fresh instance per record.
    pub isolate: bool,
    /// Environment variables the guest sees.
    pub env: Vec<(String, String)>,
    /// Read-only directories: host path (absolute) and guest path.
    pub dirs: Vec<(PathBuf, String)>,
    /// A command plugin's arguments.
    pub args: Vec<String>,
    /// Where compiled code is kept.
    pub cache: Cache,
}

/// The option values as Python gave them (`None` for absent).
pub struct RawOptions<'a, 'py> {
    /// `jobs=`
    pub jobs: Option<&'a Bound<'py, PyAny>>,
    /// `fuel=`
    pub fuel: Option<&'a Bound<'py, PyAny>>,
    /// `timeout=`
    pub timeout: Option<&'a Bound<'py, PyAny>>,
    /// `max_memory=`
    pub max_memory: Option<&'a Bound<'py, PyAny>>,
    /// `max_output=`
    pub max_output: Option<&'a Bound<'py, PyAny>>,
    /// `isolate=`
    pub isolate: Option<&'a Bound<'py, PyAny>>,
    /// `env=`
    pub env: Option<&'a Bound<'py, PyAny>>,
    /// `dirs=`
    pub dirs: Option<&'a Bound<'py, PyAny>>,
    /// `args=`
    pub args: Option<&'a Bound<'py, PyAny>>,
    /// `cache=`
    pub cache: Option<&'a Bound<'py, PyAny>>,
}

/// The names `RawOptions` has, in the order `repr` shows them.
pub const NAMES: [&str; 10] = [
    "jobs",
    "fuel",
    "timeout",
    "max_memory",
    "max_output",
    "isolate",
    "env",
    "dirs",
    "args",
    "cache",
];

impl Options {
    /// Checks the values; `TypeError` for a value of the wrong type,
    /// `ValueError` for one out of range.
    pub fn parse(raw: &RawOptions<'_, '_>) -> PyResult<Self> {
        let jobs = match present(raw.jobs) {
            Some(v) => {
                let jobs = positive("jobs", &v)?;
                Some(usize::try_from(jobs).map_err(|_| too_large("jobs", &v))?)
            }
            None => None,
        };
        Ok(Options {
            jobs,
            fuel: present(raw.fuel)
                .map(|v| positive("fuel", &v))
                .transpose()?,
            timeout: present(raw.timeout)
                .map(|v| duration("timeout", &v))
                .transpose()?,
            max_memory: present(raw.max_memory)
                .map(|v| size("max_memory", &v))
                .transpose()?,
            max_output: present(raw.max_output)
                .map(|v| size("max_output", &v))
                .transpose()?,
            isolate: match raw.isolate {
                Some(v) => flag("isolate", v)?,
                None => false,
            },
            env: present(raw.env)
                .map(|v| env(&v))
                .transpose()?
                .unwrap_or_default(),
            dirs: present(raw.dirs)
                .map(|v| dirs(&v))
                .transpose()?
                .unwrap_or_default(),
            args: present(raw.args)
                .map(|v| strings("args", &v))
                .transpose()?
                .unwrap_or_default(),
            cache: match raw.cache {
                Some(v) => cache(v)?,
                None => Cache::User,
            },
        })
    }

    /// Reads options back from a dictionary made by [`Options::to_dict`]
    /// (an unknown key is a `TypeError`, as for the constructor).
    pub fn from_dict(dict: &Bound<'_, PyDict>) -> PyResult<Self> {
        for key in dict.keys() {
            let key: String = key.extract()?;
            if !NAMES.contains(&key.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "Pool() got an unexpected keyword argument '{key}'"
                )));
            }
        }
        let values: Vec<Option<Bound<'_, PyAny>>> = NAMES
            .iter()
            .map(|name| dict.get_item(name))
            .collect::<PyResult<_>>()?;
        let get = |i: usize| values[i].as_ref();
        Options::parse(&RawOptions {
            jobs: get(0),
            fuel: get(1),
            timeout: get(2),
            max_memory: get(3),
            max_output: get(4),
            isolate: get(5),
            env: get(6),
            dirs: get(7),
            args: get(8),
            cache: get(9),
        })
    }

    /// The options as plain Python values that [`Options::from_dict`] and
    /// the constructor accept: what a pickled pool carries.
    pub fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("jobs", self.jobs)?;
        dict.set_item("fuel", self.fuel)?;
        dict.set_item(
            "timeout",
            self.timeout
                .map(|t| humantime::format_duration(t).to_string()),
        )?;
        dict.set_item("max_memory", self.max_memory)?;
        dict.set_item("max_output", self.max_output)?;
        dict.set_item("isolate", self.isolate)?;
        let env = PyDict::new(py);
        for (key, value) in &self.env {
            env.set_item(key, value)?;
        }
        dict.set_item("env", env)?;
        let dirs = PyList::empty(py);
        for (host, guest) in &self.dirs {
            dirs.append((host, guest))?;
        }
        dict.set_item("dirs", dirs)?;
        dict.set_item("args", PyList::new(py, &self.args)?)?;
        match &self.cache {
            Cache::User => dict.set_item("cache", true)?,
            Cache::Off => dict.set_item("cache", false)?,
            Cache::Dir(dir) => dict.set_item("cache", dir)?,
        }
        Ok(dict)
    }

    /// `name=value` for each option that is not at its default, for `repr`.
    pub fn describe(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let dict = self.to_dict(py)?;
        let mut out = Vec::new();
        for name in NAMES {
            let Some(value) = dict.get_item(name)? else {
                continue;
            };
            let default = match name {
                "isolate" => !value.is_truthy()?,
                "env" | "dirs" | "args" => value.len()? == 0,
                "cache" => value.is(PyBool::new(py, true).as_any()),
                _ => value.is_none(),
            };
            if !default {
                out.push(format!("{name}={}", value.repr()?));
            }
        }
        Ok(out)
    }

    /// The library's builder for these options and plugin bytes, results
    /// coming back in `order`.
    ///
    /// # Errors
    /// `ValueError` when the cache directory cannot be used.
    pub fn builder(&self, name: &str, plugin: &[u8], order: Order) -> PyResult<PoolBuilder> {
        let mut builder =
            sandmap::Pool::builder(PluginSource::bytes(name, plugin.to_vec())).order(order);
        if let Some(jobs) = self.jobs {
            builder = builder.jobs(jobs);
        }
        if let Some(fuel) = self.fuel {
            builder = builder.fuel(fuel);
        }
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout);
        }
        if let Some(bytes) = self.max_memory {
            builder = builder.max_memory(bytes);
        }
        if let Some(bytes) = self.max_output {
            builder = builder.max_output(bytes);
        }
        builder = builder.isolate(self.isolate);
        for (key, value) in &self.env {
            builder = builder.env(key.clone(), value.clone());
        }
        for (host, guest) in &self.dirs {
            builder = builder.dir(DirGrant::read_only(host.clone(), guest.clone()));
        }
        builder = builder.args(self.args.iter().cloned());
        match &self.cache {
            Cache::User => {
                if let Some(cache) = CompileCache::user_default() {
                    builder = builder.cache(cache);
                }
            }
            Cache::Off => {}
            Cache::Dir(dir) => {
                let cache =
                    CompileCache::new(dir).map_err(|e| PyValueError::new_err(e.to_string()))?;
                builder = builder.cache(cache);
            }
        }
        Ok(builder)
    }
}

/// A value that was given and is not `None`.
fn present<'py>(value: Option<&Bound<'py, PyAny>>) -> Option<Bound<'py, PyAny>> {
    value.filter(|v| !v.is_none()).cloned()
}

/// The Python type name of `value`, for messages.
fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// `TypeError`: option `name` must be `expected`, not what `value` is.
fn wrong_type(name: &str, expected: &str, value: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!(
        "{name} must be {expected}, not {}",
        type_name(value)
    ))
}

/// `ValueError`: option `name` is out of range.
fn too_large(name: &str, value: &Bound<'_, PyAny>) -> PyErr {
    PyValueError::new_err(format!("{name} is too large (got {value})"))
}

/// An `int` (not a `bool`) that fits in a `u64`, or the reason it does not.
fn unsigned(name: &str, value: &Bound<'_, PyAny>, expected: &str) -> PyResult<u64> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(wrong_type(name, expected, value));
    }
    match value.extract::<u64>() {
        Ok(n) => Ok(n),
        Err(_) if value.lt(0)? => Err(PyValueError::new_err(format!(
            "{name} must not be negative (got {value})"
        ))),
        Err(_) => Err(too_large(name, value)),
    }
}

/// A count that must be at least 1.
fn positive(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    let n = unsigned(name, value, "an int")?;
    if n == 0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be at least 1 (got 0)"
        )));
    }
    Ok(n)
}

/// Bytes: an int, or a string such as `"64MiB"`.
fn size(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_cow()?;
        return parse_size::parse_size(text.as_bytes()).map_err(|e| {
            PyValueError::new_err(format!(
                "{name}: {text:?} is not a size: {e} (try 64MiB, 512KiB, 1000000)"
            ))
        });
    }
    unsigned(name, value, "an int or a string such as '64MiB'")
}

/// A duration: seconds (int or float), a string such as `"250ms"`, or a
/// `datetime.timedelta`.
fn duration(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    const EXPECTED: &str = "seconds (int or float), a string such as '250ms', or a timedelta";
    if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_cow()?;
        let parsed = humantime::parse_duration(&text).map_err(|e| {
            PyValueError::new_err(format!(
                "{name}: {text:?} is not a duration: {e} (try 250ms, 2s, 1m)"
            ))
        })?;
        return nonzero(name, parsed, value);
    }
    if value.is_instance_of::<PyBool>() {
        return Err(wrong_type(name, EXPECTED, value));
    }
    let seconds: f64 = if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>() {
        value.extract()?
    } else if value.hasattr("total_seconds")? && type_name(value) == "timedelta" {
        value.call_method0("total_seconds")?.extract()?
    } else {
        return Err(wrong_type(name, EXPECTED, value));
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(PyValueError::new_err(format!(
            "{name} must be positive (got {value})"
        )));
    }
    let parsed = Duration::try_from_secs_f64(seconds).map_err(|_| too_large(name, value))?;
    nonzero(name, parsed, value)
}

/// `parsed`, unless it is zero (`ValueError`).
fn nonzero(name: &str, parsed: Duration, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if parsed.is_zero() {
        return Err(PyValueError::new_err(format!(
            "{name} must be more than zero (got {})",
            value.repr()?
        )));
    }
    Ok(parsed)
}

/// A `bool`, strictly (`isolate=1` is more likely a mistake than a wish).
fn flag(name: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(flag.is_true());
    }
    Err(wrong_type(name, "a bool", value))
}

/// A list of strings (a lone `str` is refused: it is iterable, but it is
/// not what was meant).
fn strings(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if value.is_instance_of::<PyString>() {
        return Err(wrong_type(name, "a list of str", value));
    }
    let iter = value
        .try_iter()
        .map_err(|_| wrong_type(name, "a list of str", value))?;
    let mut out = Vec::new();
    for item in iter {
        let item = item?;
        let text = item
            .cast::<PyString>()
            .map_err(|_| wrong_type(&format!("each item of {name}"), "a str", &item))?;
        out.push(text.to_cow()?.into_owned());
    }
    Ok(out)
}

/// `env=`: a mapping of str to str, or pairs.
fn env(value: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let pairs: Bound<'_, PyAny> = if let Ok(dict) = value.cast::<PyDict>() {
        dict.items().into_any()
    } else if value.hasattr("items")? {
        value.call_method0("items")?
    } else {
        value.clone()
    };
    if pairs.is_instance_of::<PyString>() {
        return Err(wrong_type("env", "a dict of str to str", value));
    }
    let iter = pairs
        .try_iter()
        .map_err(|_| wrong_type("env", "a dict of str to str", value))?;
    let mut out = Vec::new();
    for pair in iter {
        let pair = pair?;
        let (key, item): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair
            .extract()
            .map_err(|_| wrong_type("env", "a dict of str to str", value))?;
        let key = key
            .cast::<PyString>()
            .map_err(|_| wrong_type("each name in env", "a str", &key))?
            .to_cow()?
            .into_owned();
        let item = item
            .cast::<PyString>()
            .map_err(|_| wrong_type(&format!("env[{key:?}]"), "a str", &item))?
            .to_cow()?
            .into_owned();
        out.push((key, item));
    }
    Ok(out)
}

/// `dirs=`: read-only grants, as a mapping of host directory to guest
/// path, or a list whose items are a host directory (seen at the same
/// path), `"HOST::GUEST"`, or a `(host, guest)` pair.
fn dirs(value: &Bound<'_, PyAny>) -> PyResult<Vec<(PathBuf, String)>> {
    const EXPECTED: &str = "a dict of host directory to guest path, or a list of directories";
    let entries: Vec<Bound<'_, PyAny>> = if let Ok(dict) = value.cast::<PyDict>() {
        dict.items().iter().collect()
    } else if value.is_instance_of::<PyString>() {
        return Err(wrong_type("dirs", EXPECTED, value));
    } else {
        value
            .try_iter()
            .map_err(|_| wrong_type("dirs", EXPECTED, value))?
            .collect::<PyResult<_>>()?
    };
    let mut out = Vec::new();
    for entry in entries {
        let (host, guest): (PathBuf, Option<String>) = if let Ok(pair) = entry.cast::<PyTuple>() {
            let (host, guest): (PathBuf, Bound<'_, PyAny>) = pair
                .extract()
                .map_err(|_| wrong_type("each item of dirs", "a (host, guest) pair", &entry))?;
            let guest = guest
                .cast::<PyString>()
                .map_err(|_| wrong_type("a guest path in dirs", "a str", &guest))?
                .to_cow()?
                .into_owned();
            (host, Some(guest))
        } else if let Ok(text) = entry.cast::<PyString>() {
            let text = text.to_cow()?;
            match text.split_once("::") {
                Some((host, guest)) => (PathBuf::from(host), Some(guest.to_string())),
                None => (PathBuf::from(&*text), None),
            }
        } else {
            let host: PathBuf = entry.extract().map_err(|_| {
                wrong_type(
                    "each item of dirs",
                    "a path or a (host, guest) pair",
                    &entry,
                )
            })?;
            (host, None)
        };
        let guest = match guest {
            Some(guest) => guest,
            None => host
                .to_str()
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "dirs: {} is not valid UTF-8: give its guest path",
                        host.display()
                    ))
                })?
                .to_string(),
        };
        // Absolute, so that a pickled pool means the same directory in a
        // process started elsewhere.
        let host = std::path::absolute(&host).map_err(|e| {
            PyValueError::new_err(format!("dirs: cannot use {}: {e}", host.display()))
        })?;
        out.push((host, guest));
    }
    Ok(out)
}

/// `cache=`: `True` (the user's cache), `False` (none) or a directory.
fn cache(value: &Bound<'_, PyAny>) -> PyResult<Cache> {
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(if flag.is_true() {
            Cache::User
        } else {
            Cache::Off
        });
    }
    let dir: PathBuf = value
        .extract()
        .map_err(|_| wrong_type("cache", "a bool or a directory", value))?;
    let dir = std::path::absolute(&dir)
        .map_err(|e| PyValueError::new_err(format!("cache: cannot use {}: {e}", dir.display())))?;
    Ok(Cache::Dir(dir))
}
