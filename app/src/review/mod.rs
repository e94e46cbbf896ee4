//! Review without the screen: opening a session for review ([`load`]), the
//! editing model and its saver thread ([`edit`]), and camera frames as RGB
//! pixels ([`frame`]). The desktop app (`gui::review`) draws them; `tacit
//! bench review` measures them. Nothing here uses egui.

pub mod edit;
pub mod frame;
pub mod load;

pub(crate) use load::open_session;
