// Copy buttons and sortable tables for the ddt_perfpanels panels. Loaded as a
// module by the toolbar, once; handlers are delegated from the toolbar root so
// they work in its shadow DOM and for panels rendered later.
import { $$, getDebugElement } from "../../debug_toolbar/js/utils.js";

const root = getDebugElement();

function copyText(button, text) {
    const done = () => {
        const label = button.textContent;
        button.textContent = "Copied";
        setTimeout(() => {
            button.textContent = label;
        }, 1200);
    };
    if (navigator.clipboard && globalThis.isSecureContext) {
        navigator.clipboard.writeText(text).then(done);
        return;
    }
    const area = document.createElement("textarea");
    area.value = text;
    button.parentElement.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    done();
}

if (root && !root.dataset.ddtppReady) {
    root.dataset.ddtppReady = "1";
    $$.on(root, "click", ".ddtpp-copy", function () {
        copyText(this, this.dataset.ddtppCopy);
    });
    $$.on(root, "click", "th.ddtpp-sortable", function () {
        const table = this.closest("table");
        const index = Array.from(this.parentElement.children).indexOf(this);
        const body = table.tBodies[0];
        const descending = this.dataset.order !== "desc";
        this.dataset.order = descending ? "desc" : "asc";
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
            const x = Number.parseFloat(a.cells[index].dataset.value ?? a.cells[index].textContent);
            const y = Number.parseFloat(b.cells[index].dataset.value ?? b.cells[index].textContent);
            return descending ? y - x : x - y;
        });
        for (const row of rows) body.appendChild(row);
    });
}
