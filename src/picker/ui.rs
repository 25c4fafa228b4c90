//! The picker on the terminal: crossterm in raw mode on the alternate screen of `/dev/tty`
//! (never stdout, which the shell may be capturing), redrawn on every key and on resize, and
//! the terminal given back exactly as it was on every way out (Enter, Esc, Ctrl-C, SIGTERM,
//! SIGHUP).

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::{Attribute, Color, Print, SetAttribute, SetForegroundColor};
use crossterm::{cursor, queue, terminal};

use super::rows::{COLUMNS, Filter, Row};

/// How the picker ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The row at this index of the rows given was picked.
    Picked(usize),
    /// Esc or Ctrl-C.
    Cancelled,
    /// A signal (its number) asked us to stop.
    Signalled(i32),
}

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// The terminal in the picker's mode; dropping it restores the terminal and the signals.
struct Screen {
    tty: File,
    old: Vec<(libc::c_int, libc::sigaction)>,
}

impl Screen {
    fn enter(tty: File) -> std::io::Result<Screen> {
        let mut old = Vec::new();
        for sig in [libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: a handler that only stores to an atomic; the old action is restored on
            // drop.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as *const () as usize;
                libc::sigemptyset(&mut sa.sa_mask);
                let mut prev: libc::sigaction = std::mem::zeroed();
                libc::sigaction(sig, &sa, &mut prev);
                old.push((sig, prev));
            }
        }
        let mut s = Screen { tty, old };
        terminal::enable_raw_mode()?;
        queue!(s.tty, terminal::EnterAlternateScreen, cursor::Hide)?;
        s.tty.flush()?;
        Ok(s)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = queue!(self.tty, cursor::Show, terminal::LeaveAlternateScreen);
        let _ = self.tty.flush();
        let _ = terminal::disable_raw_mode();
        for (sig, prev) in &self.old {
            // SAFETY: restoring the saved signal action.
            unsafe { libc::sigaction(*sig, prev, std::ptr::null_mut()) };
        }
    }
}

/// What the list looks like now.
pub struct View<'a> {
    rows: &'a [Row],
    filter: Filter,
    /// The query typed.
    pub query: String,
    /// Indices into `rows` of the matching rows, best first.
    pub shown: Vec<usize>,
    /// The selected line of `shown`.
    pub selected: usize,
    top: usize,
    widths: [usize; COLUMNS],
    title: String,
    color: bool,
    now: i64,
}

const HEAD: [&str; COLUMNS] = ["PROFILE", "ACCOUNT", "NAME", "ROLE", "REGION", "SOURCE"];
const CAPS: [usize; COLUMNS] = [28, 12, 20, 24, 14, 18];
const LEFT_W: usize = 6;

impl<'a> View<'a> {
    /// A view of `rows` with `query` typed, titled `title` (`awsenv use`).
    pub fn new(rows: &'a [Row], query: &str, title: &str, color: bool, now: i64) -> View<'a> {
        let mut widths = HEAD.map(str::len);
        for r in rows {
            for (i, c) in r.cols.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count().min(CAPS[i]));
            }
        }
        let mut v = View {
            rows,
            filter: Filter::new(),
            query: query.to_string(),
            shown: Vec::new(),
            selected: 0,
            top: 0,
            widths,
            title: title.to_string(),
            color,
            now,
        };
        v.refilter();
        v
    }

    fn refilter(&mut self) {
        self.filter.set_query(&self.query);
        self.shown = self.filter.matches(self.rows);
        self.selected = 0;
        self.top = 0;
    }

    /// Applies one key; `Some` ends the picker.
    pub fn key(&mut self, k: KeyEvent) -> Option<Outcome> {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Esc => return Some(Outcome::Cancelled),
            KeyCode::Char('c' | 'd' | 'g') if ctrl => return Some(Outcome::Cancelled),
            KeyCode::Enter => {
                return self.shown.get(self.selected).map(|&i| Outcome::Picked(i));
            }
            KeyCode::Up => self.selected = self.selected.saturating_sub(1),
            KeyCode::Char('p' | 'k') if ctrl => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Tab => self.down(1),
            KeyCode::Char('n' | 'j') if ctrl => self.down(1),
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(10),
            KeyCode::PageDown => self.down(10),
            KeyCode::Backspace => {
                self.query.pop();
                self.refilter();
            }
            KeyCode::Char('u') if ctrl => {
                self.query.clear();
                self.refilter();
            }
            KeyCode::Char('w') if ctrl => {
                let t = self.query.trim_end().len();
                let cut = self.query[..t].rfind(' ').map(|i| i + 1).unwrap_or(0);
                self.query.truncate(cut);
                self.refilter();
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() => {
                self.query.push(c);
                self.refilter();
            }
            _ => {}
        }
        None
    }

    fn down(&mut self, n: usize) {
        let last = self.shown.len().saturating_sub(1);
        self.selected = (self.selected + n).min(last);
    }

    /// Column widths that fit `width`: the widest shrink first, down to 4.
    fn fit(&self, width: usize) -> [usize; COLUMNS] {
        let mut w = self.widths;
        let total = |w: &[usize; COLUMNS]| w.iter().map(|x| x + 2).sum::<usize>() + LEFT_W + 2;
        while total(&w) > width {
            let Some((i, _)) = w
                .iter()
                .enumerate()
                .filter(|(i, x)| **x > 4 && *i != 1)
                .max_by_key(|(_, x)| **x)
            else {
                break;
            };
            w[i] -= 1;
        }
        w
    }

    /// Draws the whole screen (`width`×`height`) into `out`.
    pub fn draw(&mut self, out: &mut Vec<u8>, width: u16, height: u16) -> std::io::Result<()> {
        self.draw_changed(out, &mut Vec::new(), width, height)
    }

    /// Draws into `out` only the lines of the screen that differ from `shown` (the lines as
    /// last drawn, updated here; empty: everything is drawn), each line overwritten in place
    /// and cleared to its end (no full-screen clear), the cursor hidden while drawing and then
    /// put at the end of the query.
    pub fn draw_changed(
        &mut self,
        out: &mut Vec<u8>,
        shown: &mut Vec<Vec<u8>>,
        width: u16,
        height: u16,
    ) -> std::io::Result<()> {
        let (lines, cx) = self.lines(width, height)?;
        queue!(out, cursor::Hide)?;
        if shown.len() != lines.len() {
            shown.clear();
        }
        for (i, line) in lines.iter().enumerate() {
            if shown.get(i) == Some(line) {
                continue;
            }
            queue!(out, cursor::MoveTo(0, i as u16))?;
            out.extend_from_slice(line);
            queue!(out, terminal::Clear(terminal::ClearType::UntilNewLine))?;
        }
        *shown = lines;
        queue!(out, cursor::MoveTo(cx, 0), cursor::Show)?;
        Ok(())
    }

    /// The screen's lines (`height` of them, each with its styles and ending plain) and the
    /// cursor's column.
    fn lines(&mut self, width: u16, height: u16) -> std::io::Result<(Vec<Vec<u8>>, u16)> {
        let (width, height) = (usize::from(width.max(20)), usize::from(height.max(4)));
        let list_h = height - 3;
        if self.selected < self.top {
            self.top = self.selected;
        } else if self.selected >= self.top + list_h {
            self.top = self.selected + 1 - list_h;
        }
        let w = self.fit(width);
        let mut lines: Vec<Vec<u8>> = Vec::with_capacity(height);
        let count = format!("{}/{}", self.shown.len(), self.rows.len());
        let prompt = format!("{}> ", self.title);
        let q = crate::sanitize::printable(self.query.as_bytes(), 200);
        let mut out = Vec::with_capacity(256);
        self.style(&mut out, Some(Color::Cyan), true)?;
        queue!(out, Print(&prompt))?;
        self.plain(&mut out)?;
        let room = width.saturating_sub(prompt.chars().count() + count.len() + 1);
        let qs: String = q
            .chars()
            .rev()
            .take(room)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        queue!(
            out,
            Print(&qs),
            terminal::Clear(terminal::ClearType::UntilNewLine)
        )?;
        queue!(out, cursor::MoveTo((width - count.len()) as u16, 0))?;
        self.style(&mut out, Some(Color::DarkGrey), false)?;
        queue!(out, Print(&count))?;
        self.plain(&mut out)?;
        lines.push(out);
        let mut head = String::new();
        for (i, h) in HEAD.iter().enumerate() {
            head.push_str(&pad(h, w[i]));
            head.push_str("  ");
        }
        head.push_str("LEFT");
        let mut out = Vec::with_capacity(256);
        queue!(out, SetAttribute(Attribute::Bold))?;
        queue!(out, Print(cut(&head, width)))?;
        self.plain(&mut out)?;
        lines.push(out);
        for line in 0..list_h {
            let mut out = Vec::with_capacity(512);
            if let Some(&ri) = self.shown.get(self.top + line) {
                self.row_line(&mut out, ri, self.top + line == self.selected, &w)?;
            }
            lines.push(out);
        }
        let mut out = Vec::with_capacity(128);
        self.style(&mut out, Some(Color::DarkGrey), false)?;
        let help = "Up/Down move  Enter pick  Esc cancel  (type to filter)";
        queue!(out, Print(cut(help, width)))?;
        self.plain(&mut out)?;
        lines.push(out);
        let cx = (prompt.chars().count() + qs.chars().count()).min(width - 1);
        Ok((lines, cx as u16))
    }

    /// One row of the list: its columns fitted to `w`, matched characters highlighted (runs of
    /// them styled at once), reversed when selected.
    fn row_line(
        &mut self,
        out: &mut Vec<u8>,
        ri: usize,
        sel: bool,
        w: &[usize; COLUMNS],
    ) -> std::io::Result<()> {
        let row = &self.rows[ri];
        let matched = self.filter.indices(row);
        if sel {
            queue!(out, SetAttribute(Attribute::Reverse))?;
        }
        let mut run = String::new();
        for (i, col) in row.cols.iter().enumerate() {
            let hits = row.matched_in(i, &matched);
            let text = pad(&truncate(col, w[i]), w[i]);
            let mut in_hit = false;
            for (j, ch) in text.chars().enumerate() {
                let hit = hits.contains(&j);
                if hit != in_hit {
                    queue!(out, Print(&run))?;
                    run.clear();
                    if hit {
                        self.style(out, Some(Color::Yellow), true)?;
                    } else {
                        self.plain(out)?;
                    }
                    if sel {
                        queue!(out, SetAttribute(Attribute::Reverse))?;
                    }
                    in_hit = hit;
                }
                run.push(ch);
            }
            queue!(out, Print(&run))?;
            run.clear();
            if in_hit {
                self.plain(out)?;
                if sel {
                    queue!(out, SetAttribute(Attribute::Reverse))?;
                }
            }
            queue!(out, Print("  "))?;
        }
        let left = match row.expires {
            Some(e) if e > self.now => crate::timefmt::remaining(e - self.now),
            _ => "-".to_string(),
        };
        queue!(out, Print(pad(&left, LEFT_W)))?;
        self.plain(out)
    }

    fn style(&self, out: &mut Vec<u8>, color: Option<Color>, bold: bool) -> std::io::Result<()> {
        if bold {
            queue!(out, SetAttribute(Attribute::Bold))?;
        }
        match color {
            Some(c) if self.color => queue!(out, SetForegroundColor(c)),
            _ if bold => Ok(()),
            // Without colours a dim hint stays plain; a match is still bold and underlined.
            _ => Ok(()),
        }?;
        if !self.color && bold {
            queue!(out, SetAttribute(Attribute::Underlined))?;
        }
        Ok(())
    }

    fn plain(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        queue!(out, SetAttribute(Attribute::Reset))
    }
}

fn truncate(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn pad(s: &str, w: usize) -> String {
    format!("{s:<w$}")
}

fn cut(s: &str, w: usize) -> String {
    s.chars().take(w).collect()
}

/// Whether to use colours: not with `NO_COLOR` set (to anything non-empty) or on a dumb
/// terminal.
pub fn colors() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Runs the picker on the terminal `tty` until a pick, a cancel or a signal.
pub fn run(tty: File, view: &mut View<'_>) -> std::io::Result<Outcome> {
    SIGNAL.store(0, Ordering::SeqCst);
    let mut screen = Screen::enter(tty)?;
    let mut dirty = true;
    let mut frame = Vec::with_capacity(16 * 1024);
    // The lines on the screen now; a keystroke redraws only the lines it changed, and the
    // whole frame goes out in one write.
    let mut on_screen: Vec<Vec<u8>> = Vec::new();
    let mut size = terminal::size().unwrap_or((80, 24));
    loop {
        let sig = SIGNAL.load(Ordering::SeqCst);
        if sig != 0 {
            return Ok(Outcome::Signalled(sig));
        }
        if dirty {
            view.draw_changed(&mut frame, &mut on_screen, size.0, size.1)?;
            screen.tty.write_all(&frame)?;
            screen.tty.flush()?;
            frame.clear();
            dirty = false;
        }
        match event::poll(Duration::from_millis(100)) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        match event::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                if let Some(o) = view.key(k) {
                    return Ok(o);
                }
                dirty = true;
            }
            Ok(Event::Resize(..)) => {
                // Everything again: the terminal may have reflowed or cleared the screen.
                size = terminal::size().unwrap_or((80, 24));
                queue!(frame, terminal::Clear(terminal::ClearType::All))?;
                on_screen.clear();
                dirty = true;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        let row = |p: &str, id: &str| {
            Row::new(
                [
                    p.into(),
                    id.into(),
                    "a-rather-long-account-name".into(),
                    "AdministratorAccess".into(),
                    "ap-southeast-2".into(),
                    "credential_process".into(),
                ],
                Some(4000),
            )
        };
        (0..100)
            .map(|i| {
                row(
                    &format!("profile-with-a-long-name-{i}"),
                    &format!("{i:012}"),
                )
            })
            .collect()
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn no_color_draws_no_colours_but_still_marks_matches() {
        let rows = rows();
        for color in [false, true] {
            let mut v = View::new(&rows, "042", "awsenv use", color, 0);
            let mut out = Vec::new();
            v.draw(&mut out, 80, 24).expect("draw");
            let text = String::from_utf8_lossy(&out);
            assert_eq!(text.contains("\u{1b}[38;5;"), color, "colours: {color}");
            // Without colours a match is underlined instead.
            assert_eq!(text.contains("\u{1b}[4m"), !color, "underlined: {}", !color);
        }
    }

    #[test]
    fn a_frame_fits_80_by_24() {
        let rows = rows();
        let mut v = View::new(&rows, "", "awsenv use", false, 0);
        let mut out = Vec::new();
        v.draw(&mut out, 80, 24).expect("draw");
        let text = String::from_utf8_lossy(&out);
        // Every line is placed with a cursor move to a row below 24, and no row is wider than
        // the columns fitted to 80.
        assert!(text.contains("\u{1b}[24;1H"), "the help line on row 24");
        assert!(!text.contains("\u{1b}[25;1H"), "nothing below row 24");
        let w = v.fit(80);
        assert!(
            w.iter().map(|x| x + 2).sum::<usize>() + LEFT_W + 2 <= 80,
            "{w:?}"
        );
        assert_eq!(
            text.matches("1h6m").count(),
            21,
            "21 rows with their time left"
        );
    }

    #[test]
    fn a_keystroke_redraws_only_the_lines_it_changed_in_one_frame() {
        let rows = rows();
        let mut v = View::new(&rows, "", "awsenv use", true, 0);
        let mut shown = Vec::new();
        let mut out = Vec::new();
        v.draw_changed(&mut out, &mut shown, 80, 24).expect("draw");
        let first = String::from_utf8_lossy(&out).into_owned();
        assert!(first.contains("Esc cancel") && first.contains("PROFILE"));
        assert!(!first.contains("\u{1b}[2J"), "no full-screen clear");
        // The query's first character: the list changes, the header and help line do not.
        v.key(key(KeyCode::Char('9')));
        out.clear();
        v.draw_changed(&mut out, &mut shown, 80, 24).expect("draw");
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(
            text.contains("awsenv use> \u{1b}[0m9"),
            "the query line: {text:?}"
        );
        assert!(!text.contains("Esc cancel"), "help line redrawn: {text:?}");
        assert!(!text.contains("PROFILE"), "header redrawn: {text:?}");
        assert!(!text.contains("\u{1b}[2J"), "no full-screen clear");
        assert!(
            text.ends_with("\u{1b}[?25h"),
            "one frame, cursor shown at its end"
        );
        // Moving the selection changes two rows only.
        out.clear();
        v.key(key(KeyCode::Down));
        v.draw_changed(&mut out, &mut shown, 80, 24).expect("draw");
        let text = String::from_utf8_lossy(&out).into_owned();
        assert_eq!(text.matches(";1H").count(), 2, "{text:?}");
        // Drawn from nothing again, the frame is the whole screen.
        out.clear();
        v.draw_changed(&mut out, &mut Vec::new(), 80, 24)
            .expect("draw");
        assert_eq!(String::from_utf8_lossy(&out).matches(";1H").count(), 24);
    }

    #[test]
    fn keys_filter_move_pick_and_cancel() {
        let rows = rows();
        let mut v = View::new(&rows, "", "awsenv use", false, 0);
        for c in "0099".chars() {
            assert_eq!(v.key(key(KeyCode::Char(c))), None);
        }
        assert_eq!(v.shown.first(), Some(&99));
        assert_eq!(v.key(key(KeyCode::Enter)), Some(Outcome::Picked(99)));
        v.key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        assert_eq!(v.shown.len(), 100);
        v.key(key(KeyCode::Down));
        v.key(KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL));
        v.key(KeyEvent::new(KeyCode::Char('p'), KeyModifiers::CONTROL));
        assert_eq!(v.key(key(KeyCode::Enter)), Some(Outcome::Picked(1)));
        assert_eq!(v.key(key(KeyCode::Esc)), Some(Outcome::Cancelled));
        assert_eq!(
            v.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Outcome::Cancelled)
        );
    }
}
