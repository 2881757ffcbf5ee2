//! How every command loads a plugin: the compile cache and precompiled
//! code, from the shared loading arguments.

use sandmap::PoolBuilder;

use super::args::LoadArgs;

/// Applies the plugin-loading arguments (compile cache, precompiled code).
pub fn with_load_args(builder: PoolBuilder, load: &LoadArgs) -> PoolBuilder {
    let cache = match (&load.cache_dir, load.no_cache) {
        (_, true) => None,
        // An explicit directory is the user's choice: relative to here.
        (Some(dir), false) => std::path::absolute(dir)
            .ok()
            .and_then(|dir| sandmap::CompileCache::new(dir).ok()),
        (None, false) => sandmap::CompileCache::user_default(),
    };
    let builder = builder.allow_precompiled(load.allow_precompiled);
    match cache {
        Some(cache) => builder.cache(cache),
        None => builder,
    }
}
