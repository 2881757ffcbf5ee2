//! How every command loads a plugin: the compile cache and precompiled
//! code, from the shared loading arguments.

use sandmap::PoolBuilder;

use super::args::LoadArgs;

/// Applies the plugin-loading arguments (compile cache, precompiled code).
///
/// # Errors
/// When `--cache-dir` names a directory the cache cannot use: the user
/// asked for it, so it is not dropped in silence (the default cache is
/// best-effort and is skipped when it cannot be set up).
pub fn with_load_args(
    builder: PoolBuilder,
    load: &LoadArgs,
) -> Result<PoolBuilder, sandmap::ConfigError> {
    let cache = match (&load.cache_dir, load.no_cache) {
        (_, true) => None,
        // An explicit directory is the user's choice: relative to here.
        (Some(dir), false) => {
            let dir = std::path::absolute(dir).map_err(|e| sandmap::ConfigError::Cache {
                path: dir.clone(),
                why: e.to_string(),
            })?;
            Some(sandmap::CompileCache::new(dir)?)
        }
        (None, false) => sandmap::CompileCache::user_default(),
    };
    let builder = builder.allow_precompiled(load.allow_precompiled);
    Ok(match cache {
        Some(cache) => builder.cache(cache),
        None => builder,
    })
}
