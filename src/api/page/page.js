// The status page's script: fetches the clusters' HTML from /ui/clusters every 2 s
// (with the API token, when the daemon has one) and swaps only the blocks that changed,
// by their data-key, so that the page never reloads and a reader's place is kept.
"use strict";

(function () {
  const KEY = "etcd-warden-token";
  const PERIOD_MS = 2000;
  const needsToken = document.body.dataset.token === "required";
  const main = document.getElementById("clusters");
  const live = document.getElementById("live");
  const form = document.getElementById("login");
  let timer = null;

  function say(text) {
    if (live.textContent !== text) live.textContent = text;
  }

  function showLogin(error) {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    main.replaceChildren();
    form.hidden = false;
    document.getElementById("login-error").textContent = error || "";
    say("Sign in to see the clusters.");
    document.getElementById("token").focus();
  }

  // Makes `current`'s keyed children those of `next`, in its order: a child whose
  // HTML is the same stays as it is; a changed one with keyed children of its own is
  // updated the same way; any other changed one is replaced.
  function morph(current, next) {
    const have = new Map();
    for (const child of current.children) {
      if (child.dataset.key) have.set(child.dataset.key, child);
    }
    let place = null;
    for (const wanted of Array.from(next.children)) {
      const key = wanted.dataset.key;
      let node = key ? have.get(key) : undefined;
      if (node) {
        have.delete(key);
        if (node.outerHTML !== wanted.outerHTML) {
          if (node.querySelector("[data-key]") && wanted.querySelector("[data-key]")) {
            morph(node, wanted);
          } else {
            node.replaceWith(wanted);
            node = wanted;
          }
        }
      } else {
        node = wanted;
      }
      const after = place ? place.nextElementSibling : current.firstElementChild;
      if (after !== node) current.insertBefore(node, after);
      place = node;
    }
    for (const gone of have.values()) gone.remove();
  }

  async function refresh() {
    timer = null;
    const headers = {};
    const token = sessionStorage.getItem(KEY);
    if (needsToken && !token) {
      showLogin();
      return;
    }
    if (token) headers.Authorization = "Bearer " + token;
    try {
      const answer = await fetch("/ui/clusters", { headers: headers, cache: "no-store" });
      if (answer.status === 401) {
        sessionStorage.removeItem(KEY);
        showLogin("The daemon refused this token.");
        return;
      }
      if (!answer.ok) {
        say("The daemon answered " + answer.status + "; trying again.");
      } else {
        const next = document.createElement("main");
        next.innerHTML = await answer.text();
        morph(main, next);
        if (form) form.hidden = true;
        say("Live: refreshed every 2 s.");
      }
    } catch (e) {
      say("The daemon does not answer (" + e.message + "); trying again.");
    }
    timer = setTimeout(refresh, PERIOD_MS);
  }

  if (form) {
    form.hidden = true;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const input = document.getElementById("token");
      sessionStorage.setItem(KEY, input.value);
      input.value = "";
      form.hidden = true;
      if (timer !== null) clearTimeout(timer);
      refresh();
    });
  }
  refresh();
})();
