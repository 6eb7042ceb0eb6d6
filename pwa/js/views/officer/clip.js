// One clip, for the agency's staff: the working copy to play, the master's and the copy's
// SHA-256, both downloads (the master first: it is the evidence), what the probe found,
// the recorder's clock, and a ZIP bundle's listing.
//
// The master is never changed: the working copy is an H.264/AAC MP4 made from it by the
// server (remuxed or transcoded), shown as derived from it. When no playable copy could be
// made the page says why, and the master can still be downloaded.
//
// The video uses preload="none": every byte range fetched is recorded as a view that the
// owner sees, so nothing is fetched until the officer presses play.

import { get } from "../../api.js";
import { poll } from "../../timing.js";
import { errorCard, formatBytes, formatDateTime, formatWindow, h, replace, time } from "../../ui.js";
import { N_, t } from "../../i18n.js";

const POLL_MS = 3000;
const WAITING = ["pending", "processing"];

// 0.94 → "0.9 s"; 754.2 → "12 min 34 s"; 3725 → "1 h 2 min 5 s".
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return "unknown";
  }
  if (seconds < 10) {
    return `${Math.round(seconds * 10) / 10} s`;
  }
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  return [hours ? t("%(hours)s h", { hours }) : null, hours || minutes ? t("%(minutes)s min", { minutes }) : null,
    t("%(seconds)s s", { seconds: rest })]
    .filter(Boolean).join(" ");
}

// 3725 → "1 h 2 min 5 s ahead of the true time"; -90 → "1 min 30 s behind the true time".
export function formatOffset(seconds) {
  if (!seconds) {
    return t("right (no difference)");
  }
  const duration = formatDuration(Math.abs(seconds));
  return seconds > 0 ? t("%(duration)s ahead of the true time", { duration })
    : t("%(duration)s behind the true time", { duration });
}

function codecName(codec) {
  const names = { h264: "H.264", hevc: t("H.265 (HEVC)"), mpeg2video: "MPEG-2", mpeg4: t("MPEG-4 Part 2"),
    aac: "AAC", mp3: "MP3", pcm_mulaw: t("G.711 µ-law"), pcm_alaw: t("G.711 A-law"), wmv2: t("WMV 8"), wmv3: t("WMV 9") };
  return names[codec] || codec;
}

// The probe's facts as rows for a <dl>, whichever shape the server gives streams in.
function probeRows(probe) {
  if (!probe) {
    return [];
  }
  const video = (probe.streams || []).find((s) => s.type === "video") || probe;
  const audio = (probe.streams || []).find((s) => s.type === "audio");
  const audioCodec = audio ? audio.codec : probe.audio_codec;
  const width = video.width;
  const height = video.height;
  const rate = video.frame_rate;
  return [
    [t("Container"), probe.container || probe.format_name],
    [t("Video"), [codecName(video.codec || video.video_codec), width && height ? `, ${width}×${height}` : "",
      rate ? t(", %(rate)s frames/s", { rate: Math.round(rate * 100) / 100 }) : ""].join("")],
    [t("Audio"), audioCodec ? codecName(audioCodec) : t("none")],
    [t("Duration"), formatDuration(probe.duration_s)],
    probe.bit_rate ? [t("Bit rate"), t("%(kbits)s kbit/s", { kbits: Math.round(probe.bit_rate / 1000) })] : null,
    // What the recorder or phone wrote as the start, on its own clock (no time zone, as written).
    probe.start_time ? [t("Start, as the file states it"), h("span.stated-start", probe.start_time)] : null,
    // MPEG streams often start hours in; a recorder format may count from 1970 instead,
    // which the stated start above already says in words.
    probe.start_time_s && probe.start_time_s < 30 * 86400
      ? [t("Container clock starts at"), formatDuration(probe.start_time_s)] : null,
    probe.bundle_entry ? [t("Copy made from"), h("code", probe.bundle_entry)] : null,
  ].filter(Boolean);
}

function hash(value) {
  return h("code.sha256", { dataset: { sha256: value || "" } }, value || "");
}

function madeHow(copy) {
  const settings = copy.settings || {};
  const video = typeof settings.video === "object" && settings.video ? settings.video : {};
  const audio = settings.audio;
  const versions = copy.versions || {};
  const how = copy.method === "remux"
    ? t("Remuxed: the master's H.264 video copied unchanged into an MP4 (not re-encoded)")
    : t("Transcoded to H.264 (%(settings)s)", { settings: [video.codec || "libx264",
      video.preset ? t("preset %(preset)s", { preset: video.preset }) : null,
      video.crf !== undefined ? t("CRF %(crf)s", { crf: video.crf }) : null].filter(Boolean).join(", ") });
  const sound = !audio ? t("; no sound") : audio === "copy" ? t("; sound copied unchanged")
    : audio.bit_rate ? t("; sound as AAC %(kbits)s kbit/s", { kbits: Math.round(audio.bit_rate / 1000) })
      : t("; sound as AAC");
  const ffmpeg = versions.ffmpeg && (versions.ffmpeg.libavformat || versions.ffmpeg.libavcodec);
  const libs = [versions.pyav ? t("PyAV %(pyav)s", { pyav: versions.pyav }) : null,
    ffmpeg ? t("FFmpeg libavformat %(ffmpeg)s", { ffmpeg }) : null].filter(Boolean).join(", ");
  const cut = settings.truncated ? t(" The master ends early or is damaged: the copy holds what could be read.") : "";
  const made = libs ? t("; made with %(libs)s", { libs }) : "";
  return `${how}${sound}${made}.${cut}`;
}

function bundleList(entries) {
  return h("ul.bundle-entries",
    entries.map((entry) => h("li", { dataset: { kind: entry.kind || "" } },
      h("code", entry.name), ` · ${formatBytes(entry.size)}`,
      entry.kind === "video" ? t(" · video") : entry.kind === "executable" ? t(" · program (kept, never opened here)") : "",
      entry.working_copy ? t(" · the working copy was made from this") : "",
      entry.error ? t(" · could not be read: %(error)s", { error: entry.error }) : "",
      entry.flags && entry.flags.length ? t(" · unsafe name (%(flags)s): never extracted", { flags: entry.flags.join(", ") }) : "")));
}

export default {
  title: N_("Clip"),
  async render(ctx) {
    const id = ctx.params.id;
    if (!/^\d+$/.test(id)) {
      return notFound();
    }
    const first = await get(`/api/clips/${id}`);
    if (first.status === 404) {
      return notFound();
    }
    if (!first.ok) {
      return h("section", h("h1", t("Clip")), errorCard(first.error, () => ctx.navigate(`/officer/clips/${id}`)));
    }
    let clip = first.data;
    let closed = false;
    const requestAnswer = await get(`/api/requests/${clip.request_id}`);
    const request = requestAnswer.ok ? requestAnswer.data : null;

    const playerBox = h("div.clip-player");
    const copyBox = h("div.clip-copy");
    let drawnState = null;

    function drawPlayer() {
      const media = clip.media || {};
      const copy = clip.working_copy;
      const state = clip.status !== "complete" ? clip.status : copy ? "ready" : media.status || "none";
      if (state === drawnState) {
        return;
      }
      drawnState = state;
      if (clip.status === "purged") {
        replace(playerBox, h("p", t("Purged %(when)s when the agency’s retention ended. The master and the copies made from it were "
          + "deleted.", { when: formatDateTime(clip.purged_at) })));
      } else if (copy) {
        replace(playerBox, h("video", {
          controls: true, preload: "none", playsInline: true, src: copy.content_url, poster: clip.poster_url || undefined,
          "aria-label": t("Working copy of clip %(id)s", { id: clip.id }) }));
      } else if (WAITING.includes(media.status)) {
        replace(playerBox, h("p.making-copy", { role: "status" },
          t("Making a playable copy from the master… This page updates by itself.")));
      } else if (media.status === "failed") {
        replace(playerBox, h("div.alert.copy-failed", { role: "alert" },
          h("p", h("strong", t("No playable copy could be made. ")), media.error || ""),
          h("p", t("The master is kept unchanged and can be downloaded below; a video player that reads " +
            "the recorder’s format (often on the recorder’s own export) can play it."))));
      } else {
        // A clip from before working copies existed: the browser plays the master if it can.
        replace(playerBox, h("video", { controls: true, preload: "none", playsInline: true, src: clip.content_url,
          "aria-label": t("Clip %(id)s", { id: clip.id }) }));
      }
      drawCopy();
    }

    function drawCopy() {
      const copy = clip.working_copy;
      const master = [
        h("h2", t("Master (as the owner uploaded it)")),
        h("dl.clip-facts.master-facts",
          h("dt", "SHA-256"), h("dd", hash(clip.sha256)),
          h("dt", t("Size")), h("dd", formatBytes(clip.size), clip.container ? ` · ${clip.container}` : ""),
          h("dt", t("Received")), h("dd", clip.completed_at ? time(clip.completed_at) : "")),
        clip.status === "complete"
          ? h("div.actions", h("a.button.primary.download-master", { href: clip.download_url, download: "" },
            t("Download the master"))) : null,
      ];
      const derived = copy ? [
        h("h2", t("Working copy (derived from the master)")),
        h("dl.clip-facts.copy-facts",
          h("dt", "SHA-256"), h("dd", hash(copy.sha256)),
          h("dt", t("Size")), h("dd", formatBytes(copy.size), t(" · MP4 (H.264/AAC)")),
          h("dt", t("Made")), h("dd", copy.created_at ? time(copy.created_at) : ""),
          h("dt", t("How")), h("dd.made-how", madeHow(copy))),
        h("div.actions", h("a.button.download-copy", { href: copy.download_url, download: "" },
          t("Download the working copy"))),
        h("p.hint", t("The working copy is for viewing; the master is the evidence. Check each download " +
          "against its SHA-256.")),
      ] : [];
      replace(copyBox, master, derived);
    }

    const probeBox = h("div.clip-probe");
    function drawProbe() {
      const rows = probeRows(clip.media && clip.media.probe);
      replace(probeBox, rows.length ? [h("h2", t("What the file holds")),
        h("dl.clip-facts.probe-facts", rows.map(([term, value]) => [h("dt", term), h("dd", value)]))] : null,
      clip.bundle_entries && clip.bundle_entries.length ? [h("h2", t("Inside the ZIP bundle")),
        h("p.hint", t("The bundle is kept as received, never unpacked here; programs in it are never run.")),
        bundleList(clip.bundle_entries)] : null);
    }

    function clockBox() {
      if (clip.recorder_offset_s === null || clip.recorder_offset_s === undefined) {
        return h("div.clip-recorder-clock", h("h2", t("The recorder’s clock")),
          h("p", t("The owner did not say what time their recorder showed, so the footage’s own timestamps " +
            "may be off by the recorder’s drift.")));
      }
      const window = clip.recorder_window;
      return h("div.clip-recorder-clock", h("h2", t("The recorder’s clock")),
        h("dl.clip-facts",
          h("dt", t("Recorder clock")), h("dd.recorder-offset", formatOffset(clip.recorder_offset_s)),
          window ? [h("dt", t("The request’s window on the recorder’s clock")),
            h("dd.recorder-window", formatWindow(window.start, window.end))] : null,
          request ? [h("dt", t("The request’s window (true time)")),
            h("dd", formatWindow(request.window_start, request.window_end))] : null),
        h("p.hint", t("Footage stamped with a recorder time happened at that time minus the difference.")));
    }

    drawPlayer();
    drawProbe();

    async function refresh(options) {
      const answer = await get(`/api/clips/${id}`, options);
      if (closed || !ctx.current || !answer.ok) {
        return;
      }
      const before = clip.media && clip.media.status;
      clip = answer.data;
      drawPlayer();
      drawProbe();
      const after = clip.media && clip.media.status;
      if (before !== after && after === "ready") {
        ctx.announce(t("The playable copy is ready."));
      } else if (before !== after && after === "failed") {
        ctx.announce(t("No playable copy could be made."));
      }
    }
    const waiting = () => clip.status === "complete" && WAITING.includes(clip.media && clip.media.status);
    const stop = waiting() ? poll(async (options) => {
      if (waiting()) {
        await refresh(options);
      }
    }, POLL_MS) : () => {};

    const node = h("section.officer.clip-page", { dataset: { clipId: String(clip.id) } },
      h("p.back", h("a", { href: `#/officer/requests/${clip.request_id}` },
        request ? t("← Case %(case_number)s", { case_number: request.case_number }) : t("← The request"))),
      h("h1", request ? t("Clip %(id)s · case %(case_number)s", { id: clip.id, case_number: request.case_number })
        : t("Clip %(id)s", { id: clip.id })),
      playerBox,
      h("p.hint", t("Every play and download is recorded, and the owner can see it.")),
      copyBox,
      probeBox,
      clockBox());
    return {
      node,
      cleanup() {
        closed = true;
        stop();
      },
    };
  },
};

function notFound() {
  return h("section",
    h("h1", t("Clip not found")),
    h("p", t("There is no such clip in your agency.")),
    h("p", h("a.button", { href: "#/officer/requests" }, t("All requests"))));
}
