//! How the product library tells its caller about long work and warnings. Only the binary
//! prints: it implements this trait (progress bars, `warning:` lines); the library calls it.

/// Progress and warnings of a build. Extends the Debian archive client's reporter, whose
/// byte counts cover index and package downloads.
pub trait Reporter: debian::fetch::Reporter {
    /// A layer is ready: built now, or taken from the cache.
    fn layer(&self, _label: &str, _cached: bool) {}

    /// Advice about the result that changes nothing in it (how an engine will read a
    /// setting): a warning, which a quiet run may leave unsaid.
    fn advise(&self, message: &str) {
        self.warn(message);
    }
}
