//! The police (filled in next).
