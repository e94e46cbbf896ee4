//! Review without the screen: opening a session for review ([`load`]), the
//! editing model and its saver thread ([`edit`]), the commands the screen
//! sends it ([`command`]), and camera frames as RGB
//! pixels ([`frame`]). The desktop app (`gui::review`) draws them; `tacit
//! bench review` measures them. Nothing here uses egui.

pub mod command;
pub mod edit;
pub mod frame;
pub mod load;

pub(crate) use load::open_session;
