//! Docker's (legacy, "v1") plugin protocol, as a client: finding a plugin by name (a socket in
//! `/run/docker/plugins/`, a `.spec`/`.json` file in `/etc/docker/plugins/` or
//! `/usr/lib/docker/plugins/`), activating it (`POST /Plugin.Activate`, which names the
//! interfaces it implements) and calling it: JSON over HTTP/1.1 on a UNIX socket or TCP, with a
//! deadline on every call. Volume drivers (`crate::volumes::plugin`) are its first user;
//! authorization plugins will be the second.
