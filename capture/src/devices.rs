//! `tacit devices`: what this machine offers — cameras (nokhwa/V4L2) with
//! their formats, audio inputs (cpal) with their rates, and serial ports.

use serde::Serialize;

/// One camera and the formats it offers.
#[derive(Clone, Debug, Serialize)]
pub struct CameraDevice {
    /// What to write as `device` in the profile.
    pub device: String,
    /// Human name.
    pub name: String,
    /// `WxH@fps FORMAT` strings.
    pub formats: Vec<String>,
    /// Why formats could not be read, if they could not.
    pub error: Option<String>,
}

/// One audio input.
#[derive(Clone, Debug, Serialize)]
pub struct AudioDevice {
    /// What to write as `device` in the profile.
    pub device: String,
    /// Human name.
    pub name: String,
    /// `Nch FORMAT min–max Hz` strings.
    pub configs: Vec<String>,
}

/// One serial port.
#[derive(Clone, Debug, Serialize)]
pub struct SerialDevice {
    /// Port path.
    pub port: String,
    /// USB, PCI, Bluetooth or unknown, with vendor details when known.
    pub kind: String,
}

/// Everything found, with errors per kind rather than failing as a whole.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DeviceList {
    /// Cameras.
    pub cameras: Vec<CameraDevice>,
    /// Audio inputs.
    pub audio_inputs: Vec<AudioDevice>,
    /// Serial ports.
    pub serial_ports: Vec<SerialDevice>,
    /// Problems met while listing (no V4L2, no ALSA, no /sys).
    pub errors: Vec<String>,
}

/// Lists devices; never fails (problems are in `errors`).
pub fn list() -> DeviceList {
    let mut out = DeviceList::default();
    list_cameras(&mut out);
    list_audio(&mut out);
    list_serial(&mut out);
    out
}

fn list_cameras(out: &mut DeviceList) {
    match nokhwa::query(nokhwa::utils::ApiBackend::Auto) {
        Ok(cams) => {
            for info in cams {
                let device = match info.index() {
                    nokhwa::utils::CameraIndex::Index(n) => n.to_string(),
                    nokhwa::utils::CameraIndex::String(s) => s.clone(),
                };
                let mut entry = CameraDevice { device, name: info.human_name(), formats: Vec::new(), error: None };
                let requested =
                    nokhwa::utils::RequestedFormat::new::<nokhwa::pixel_format::RgbFormat>(nokhwa::utils::RequestedFormatType::None);
                match nokhwa::Camera::new(info.index().clone(), requested).and_then(|mut c| c.compatible_camera_formats()) {
                    Ok(formats) => {
                        entry.formats =
                            formats.iter().map(|f| format!("{}x{}@{} {:?}", f.width(), f.height(), f.frame_rate(), f.format())).collect();
                    }
                    Err(e) => entry.error = Some(e.to_string()),
                }
                out.cameras.push(entry);
            }
        }
        Err(e) => out.errors.push(format!("cameras: {e}")),
    }
}

fn list_audio(out: &mut DeviceList) {
    use cpal::traits::{DeviceTrait, HostTrait};
    let host = cpal::default_host();
    match host.input_devices() {
        Ok(devices) => {
            for d in devices {
                let id = d.id().map(|i| i.to_string()).unwrap_or_default();
                let device = id.split_once(':').map(|(_, rest)| rest.to_string()).unwrap_or_else(|| id.clone());
                // Summarise: ALSA plugins offer hundreds of channel/format pairs.
                let mut formats: Vec<String> = Vec::new();
                let (mut ch, mut rate) = ((u16::MAX, 0u16), (u32::MAX, 0u32));
                for r in d.supported_input_configs().into_iter().flatten() {
                    let f = format!("{:?}", r.sample_format());
                    if !formats.contains(&f) {
                        formats.push(f);
                    }
                    ch = (ch.0.min(r.channels()), ch.1.max(r.channels()));
                    rate = (rate.0.min(r.min_sample_rate()), rate.1.max(r.max_sample_rate()));
                }
                let configs = if formats.is_empty() {
                    Vec::new()
                } else {
                    vec![format!("{}–{} ch, {}–{} Hz, {}", ch.0, ch.1, rate.0, rate.1, formats.join("/"))]
                };
                out.audio_inputs.push(AudioDevice { device, name: d.to_string(), configs });
            }
        }
        Err(e) => out.errors.push(format!("audio inputs: {e}")),
    }
}

fn list_serial(out: &mut DeviceList) {
    if cfg!(target_os = "linux") && !std::path::Path::new("/sys/class/tty").is_dir() {
        out.errors.push("serial ports: /sys/class/tty is missing".into());
        return;
    }
    match serialport::available_ports() {
        Ok(ports) => {
            for p in ports {
                let kind = match p.port_type {
                    serialport::SerialPortType::UsbPort(u) => format!("usb {:04x}:{:04x} {}", u.vid, u.pid, u.product.unwrap_or_default()),
                    serialport::SerialPortType::PciPort => "pci".into(),
                    serialport::SerialPortType::BluetoothPort => "bluetooth".into(),
                    serialport::SerialPortType::Unknown => "unknown".into(),
                };
                out.serial_ports.push(SerialDevice { port: p.port_name, kind });
            }
        }
        Err(e) => out.errors.push(format!("serial ports: {e}")),
    }
}
