//! Windows backend (in progress: see the Windows issue).
