// Botyard dashboard: the little behaviour that needs a script. Every page works without it.
"use strict";

function selectText(element) {
  if (element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement) {
    element.focus();
    element.select();
    element.setSelectionRange(0, element.value.length);
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function textOf(element) {
  return element.value !== undefined ? element.value : element.textContent.trim();
}

async function copyFrom(button) {
  const target = document.getElementById(button.dataset.copyTarget);
  const status = document.getElementById(button.dataset.copyStatus);
  if (!target) return;
  const text = textOf(target);
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (error) {
      copied = false;
    }
  }
  if (!copied) {
    // Older browsers and plain-HTTP pages: select the key and fall back to execCommand.
    selectText(target);
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
  }
  if (status) {
    status.textContent = copied ? "Copied to the clipboard." : "Selected: press Ctrl+C (or ⌘C) to copy.";
  }
  if (copied) button.textContent = "Copied";
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (button) {
    event.preventDefault();
    copyFrom(button);
  }
});

document.addEventListener("focusin", (event) => {
  if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
    event.target.select();
  }
});

document.addEventListener("DOMContentLoaded", () => {
  // A page that shows a secret once was the answer to a POST: make reloading it a plain GET,
  // so a reload shows the list (hints only) instead of resubmitting the form.
  const marker = document.querySelector("[data-replace-url]");
  if (marker && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", marker.dataset.replaceUrl);
  }
  const chat = document.querySelector("[data-scroll-end]");
  if (chat) chat.scrollIntoView({ block: "end" });
});
